import { Controller, Get, HttpStatus, Req, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult } from '@nestjs/terminus';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { headerValue, Public, RequestAuthenticator } from '../shared/auth';
import { LifecycleService } from '../shared/lifecycle';
import { ReadinessService, withoutMessages } from './readiness.service';

/** Terminus' result: every component by name, `{status: up|down, ...}`. */
const components = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down'] } },
  },
};
const HEALTH_RESULT = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ok', 'error', 'shutting_down'] },
    info: components,
    error: components,
    details: components,
  },
};

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly readiness: ReadinessService,
    private readonly lifecycle: LifecycleService,
    private readonly authenticator: RequestAuthenticator,
  ) {}

  @Public()
  @Get('live')
  @ApiOperation({ summary: 'Liveness: 200 while the process can serve (checks no dependency)' })
  @ApiOkResponse({
    description: 'The process is alive',
    schema: { type: 'object', required: ['status'], properties: { status: { enum: ['ok'] } } },
  })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Public()
  @Get(['ready', ''])
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({
    summary:
      'Readiness: platform database, Redis, Kafka, RabbitMQ and Secrets Manager (refreshed at most once a second; error text for platform admins only)',
  })
  @ApiOkResponse({
    description: 'Every component answers, with its latency',
    schema: HEALTH_RESULT,
  })
  @ApiServiceUnavailableResponse({
    description: 'A component is down (named), or the instance is draining',
    schema: HEALTH_RESULT,
  })
  async ready(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<HealthCheckResult> {
    if (this.lifecycle.draining) {
      void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
      return {
        status: 'error',
        info: {},
        error: { instance: { status: 'down', message: 'shutting down' } },
        details: { instance: { status: 'down', message: 'shutting down' } },
      };
    }
    const [{ ok, result }, admin] = await Promise.all([
      this.readiness.current(),
      this.isPlatformAdmin(request),
    ]);
    if (!ok) void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
    return admin ? result : withoutMessages(result);
  }

  /** A public route: credentials are optional here, and only a platform admin's show error text. */
  private async isPlatformAdmin(request: FastifyRequest): Promise<boolean> {
    const authorization = headerValue(request.headers.authorization);
    if (!authorization) return false;
    try {
      const principal = await this.authenticator.authenticate({ authorization });
      return principal.isPlatformAdmin;
    } catch {
      return false;
    }
  }
}
