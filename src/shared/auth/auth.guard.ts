import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { commonError } from '../errors/app-error';
import { TenantContext } from '../tenant-context';
import { type Access, IS_PUBLIC, REQUIRED_ACCESS } from './auth.decorators';
import { headerValue, RequestAuthenticator } from './request-authenticator';

/**
 * Global HTTP guard: every route is authenticated unless marked @Public(). The verified
 * principal becomes the tenant context; @Allow() narrows who may call.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: RequestAuthenticator,
    private readonly context: TenantContext,
  ) {}

  async canActivate(execution: ExecutionContext): Promise<boolean> {
    if (execution.getType() !== 'http') return true;
    const targets = [execution.getHandler(), execution.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;

    const request = execution.switchToHttp().getRequest<FastifyRequest>();
    const principal = await this.authenticator.authenticate({
      authorization: headerValue(request.headers.authorization),
      apiKey: headerValue(request.headers['x-api-key']),
      tenantId: headerValue(request.headers['x-tenant-id']),
      ip: request.ip,
      userAgent: headerValue(request.headers['user-agent']),
    });
    this.context.setPrincipal(principal);

    const access = this.reflector.getAllAndOverride<Access | undefined>(REQUIRED_ACCESS, targets);
    if (!access) return true;
    if (principal.isPlatformAdmin) {
      if (access.platformAdmin) return true;
      throw commonError('COMMON.FORBIDDEN', 'Platform admins cannot call this route');
    }
    const memberAllowed =
      principal.tenantId !== undefined &&
      (access.roles === 'any' ||
        (principal.role !== undefined && access.roles.includes(principal.role)));
    if (!memberAllowed) throw commonError('COMMON.FORBIDDEN', 'Your role does not allow this');
    return true;
  }
}
