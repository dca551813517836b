import { applyDecorators, SetMetadata } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExtension,
  ApiForbiddenResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { TenantRole } from '../tenant-context';

export const IS_PUBLIC = 'tessera:public';
export const REQUIRED_ACCESS = 'tessera:access';

/** `roles`: the tenant roles allowed ('any' = every member; [] = no member). */
export type Access = { platformAdmin: boolean; roles: TenantRole[] | 'any' };

/** A route anyone may call. Every other route is authenticated by the global guard. */
export const Public = () =>
  applyDecorators(SetMetadata(IS_PUBLIC, true), ApiExtension('x-public', true));

/**
 * Who may call the route beyond being authenticated: tenant members with one of `roles`,
 * and platform admins when `platformAdmin` is set. Without @Allow, any authenticated caller.
 */
export const Allow = (access: Partial<Access>) =>
  applyDecorators(
    SetMetadata(REQUIRED_ACCESS, { platformAdmin: false, roles: [], ...access } satisfies Access),
    ApiForbiddenResponse({ description: 'The caller lacks the required role' }),
  );

export const PlatformAdminOnly = () => Allow({ platformAdmin: true });
export const TenantOwnerOnly = () => Allow({ roles: ['tenant_owner'] });
export const MembersOnly = () => Allow({ roles: 'any' });

/** Marks a route as authenticated in the OpenAPI document. */
export const Authenticated = () =>
  applyDecorators(
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing or invalid credentials' }),
  );
