import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { emailAddress } from './email';

const email = emailAddress();
const password = z.string({ error: 'expected a password' }).min(1, 'expected a password').max(256);

/** `username` is the original systems' name for `email`; answers always say `email`. */
const identity = { email: email.optional(), username: email.optional() };
const oneEmail = (body: { email?: string; username?: string }) =>
  Boolean(body.email ?? body.username);
const emailRequired = { message: 'expected email (or username)', path: ['email'] };
/** The same rule in the OpenAPI document. */
const emailOrUsername = { anyOf: [{ required: ['email'] }, { required: ['username'] }] };
const normalized = <B extends { email?: string; username?: string }>({ username, ...body }: B) => ({
  ...body,
  email: (body.email ?? username ?? '').toLowerCase(),
});

export class RegisterDto extends createZodDto(
  z
    .object({
      ...identity,
      password,
      tenant_id: z.uuid({ error: 'expected a tenant uuid' }),
      name: z.string().trim().min(1).max(100).optional(),
      // Accepted so that asking for tenant_owner is refused with 403, not silently ignored.
      role: z.enum(['tenant_owner', 'user'], { error: 'expected user' }).optional(),
    })
    .meta(emailOrUsername)
    .refine(oneEmail, emailRequired)
    .transform(normalized),
) {}

export class LoginDto extends createZodDto(
  z
    .object({
      ...identity,
      password,
      tenant_id: z.uuid({ error: 'expected a tenant uuid' }).optional(),
      /** Answers Cognito's NEW_PASSWORD_REQUIRED challenge (accounts created with a temporary password). */
      new_password: z.string().min(1).max(256).optional(),
    })
    .meta(emailOrUsername)
    .refine(oneEmail, emailRequired)
    .transform(normalized),
) {}

export class RefreshDto extends createZodDto(
  z.object({
    refresh_token: z.string({ error: 'expected refresh_token' }).min(1).max(4096),
    tenant_id: z.uuid({ error: 'expected a tenant uuid' }).optional(),
    email: email.optional(),
    username: email.optional(),
  }),
) {}

export class LogoutQueryDto extends createZodDto(
  z.object({ all: z.enum(['true', 'false', '1', '0']).optional() }),
) {}

const userView = z.object({
  user_id: z.string(),
  email: z.string(),
  role: z.enum(['tenant_owner', 'user']).nullable(),
  tenant_id: z.string().nullable(),
  is_admin: z.boolean(),
});

export class TokensView extends createZodDto(
  z.object({
    access_token: z.string(),
    id_token: z.string(),
    refresh_token: z.string(),
    token_type: z.string(),
    expires_in: z.number(),
    session_id: z.string(),
    user: userView,
  }),
) {}

export class RegisteredView extends createZodDto(
  z.object({
    user_id: z.string(),
    email: z.string(),
    tenant_id: z.string(),
    role: z.literal('user'),
    confirmed: z.boolean(),
  }),
) {}

export class MeView extends createZodDto(
  userView.extend({
    session_id: z.string().nullable(),
    memberships: z.array(
      z.object({ tenant_id: z.string(), role: z.enum(['tenant_owner', 'user']) }),
    ),
  }),
) {}

export class SessionListView extends createZodDto(
  z.object({
    data: z.array(
      z.object({
        id: z.string(),
        tenant_id: z.string().nullable(),
        created_at: z.string(),
        last_seen_at: z.string(),
        expires_at: z.string(),
        ip: z.string().nullable(),
        user_agent: z.string().nullable(),
        current: z.boolean(),
      }),
    ),
  }),
) {}
