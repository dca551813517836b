import {
  AdminConfirmSignUpCommand,
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';
import type { TestApp } from './app';

/** A logged-in user, through the real `/api/v1/auth/login`. */
export interface Identity {
  token: string;
  refreshToken: string;
  idToken: string;
  sessionId: string;
  userId: string;
  email: string;
  password: string;
  /** `Bearer <token>`, for `.set('Authorization', …)`. */
  bearer: string;
}

export type Role = 'tenant_owner' | 'user';

export const PASSWORD = 'Passw0rd!tessera';

export function cognito(): CognitoIdentityProviderClient {
  return new CognitoIdentityProviderClient({
    region: process.env.AWS_REGION ?? 'us-east-1',
    endpoint: process.env.AWS_ENDPOINT_URL,
    maxAttempts: 1,
  });
}

export const userPoolId = () => process.env.COGNITO_USER_POOL_ID!;
export const clientId = () => process.env.COGNITO_CLIENT_ID!;

export function uniqueEmail(label = 'user'): string {
  return `${label}-${randomBytes(5).toString('hex')}@test.tessera.dev`;
}

/** SQL on the platform test database as the runtime role (memberships, admins, tenants). */
export async function platformSql<T = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A confirmed Cognito user with a permanent password; returns its id (`sub`). */
export async function createCognitoUser(
  email: string,
  password = PASSWORD,
  poolId = userPoolId(),
): Promise<string> {
  const idp = cognito();
  try {
    const out = await idp.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: email,
        MessageAction: 'SUPPRESS',
        UserAttributes: [
          { Name: 'email', Value: email },
          { Name: 'email_verified', Value: 'true' },
        ],
      }),
    );
    await idp.send(
      new AdminSetUserPasswordCommand({
        UserPoolId: poolId,
        Username: email,
        Password: password,
        Permanent: true,
      }),
    );
    return out.User!.Attributes!.find((a) => a.Name === 'sub')!.Value!;
  } finally {
    idp.destroy();
  }
}

/** What the confirmation e-mail's code would do. */
export async function confirmSignUp(email: string): Promise<void> {
  const idp = cognito();
  try {
    await idp.send(new AdminConfirmSignUpCommand({ UserPoolId: userPoolId(), Username: email }));
  } finally {
    idp.destroy();
  }
}

/**
 * An active tenant row, without provisioning (no database, queues or API key): enough for auth
 * and membership tests. Use `createTenant` for a fully provisioned one.
 */
export async function insertTenant(
  options: { allowSelfSignup?: boolean; name?: string } = {},
): Promise<string> {
  const id = randomUUID();
  await platformSql(
    `insert into tenants (id, name, status, allow_self_signup) values ($1, $2, 'active', $3)`,
    [id, options.name ?? `auth-${id.slice(0, 8)}`, options.allowSelfSignup ?? false],
  );
  return id;
}

/** A provisioned tenant through the real `POST /api/v1/tenants` (needs a platform admin). */
export async function createTenant(
  t: TestApp,
  admin: Identity,
  body: Record<string, unknown> = {},
): Promise<{ id: string; api_key: string; [key: string]: unknown }> {
  const res = await request(t.url)
    .post('/api/v1/tenants')
    .set('Authorization', admin.bearer)
    .send({ name: `t-${randomBytes(5).toString('hex')}`, ...body });
  if (res.status !== 201)
    throw new Error(`POST /tenants answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as { id: string; api_key: string; [key: string]: unknown };
}

/** Logs in through the real route; throws unless 200. */
export async function login(
  t: TestApp,
  email: string,
  password = PASSWORD,
  extra: Record<string, unknown> = {},
): Promise<Identity & { body: Record<string, unknown> }> {
  const res = await request(t.url)
    .post('/api/v1/auth/login')
    .send({ email, password, ...extra });
  if (res.status !== 200)
    throw new Error(`login of ${email} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return {
    token: res.body.access_token,
    refreshToken: res.body.refresh_token,
    idToken: res.body.id_token,
    sessionId: res.body.session_id,
    userId: res.body.user.user_id,
    email,
    password,
    bearer: `Bearer ${res.body.access_token}`,
    body: res.body,
  };
}

/** A new platform admin (Cognito user + platform_admins row), logged in. */
export async function platformAdmin(t: TestApp): Promise<Identity> {
  const email = uniqueEmail('admin');
  const userId = await createCognitoUser(email);
  await platformSql('insert into platform_admins (user_id, email) values ($1, $2)', [
    userId,
    email,
  ]);
  return login(t, email);
}

/** A new member of `tenantId` with `role` (Cognito user + membership), logged in to that tenant. */
export async function tenantMember(
  t: TestApp,
  tenantId: string,
  role: Role = 'user',
): Promise<Identity> {
  const email = uniqueEmail(role === 'tenant_owner' ? 'owner' : 'user');
  const userId = await createCognitoUser(email);
  await addMembership(tenantId, userId, email, role);
  return login(t, email, PASSWORD, { tenant_id: tenantId });
}

export async function addMembership(
  tenantId: string,
  userId: string,
  email: string,
  role: Role,
): Promise<void> {
  await platformSql(
    'insert into tenant_users (tenant_id, user_id, email, role) values ($1, $2, $3, $4)',
    [tenantId, userId, email, role],
  );
}
