import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { Injectable } from '@nestjs/common';
import type { TestingModuleBuilder } from '@nestjs/testing';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { z } from 'zod';
import { RequestAuthenticator, type Credentials } from '../../src/shared/auth';
import { commonError } from '../../src/shared/errors';
import type { EntityManager } from 'typeorm';
import { TenantDatabase } from '../../src/modules/tenancy';
import { type Principal, TenantContext } from '../../src/shared/tenant-context';
import type { TestApp } from './app';

const PG = { host: '127.0.0.1', port: 5432 };

/**
 * Stand-in credentials for service-level route tests (the real ones come from
 * test/support/identities.ts): `Bearer test-admin` is a platform admin (X-Tenant-ID picks a
 * tenant); `Bearer test-member:<tenantId>:<role>` a member of that tenant.
 */
@Injectable()
export class TestBearerAuthenticator extends RequestAuthenticator {
  authenticate(credentials: Credentials): Promise<Principal> {
    const token = credentials.authorization?.replace(/^Bearer /, '') ?? '';
    if (token === 'test-admin') {
      const tenantId = z.uuid().safeParse(credentials.tenantId).success
        ? credentials.tenantId
        : undefined;
      return Promise.resolve({ isPlatformAdmin: true, tenantId, via: 'session', userId: 'admin' });
    }
    const [kind, tenantId, role] = token.split(':');
    if (kind === 'test-member' && (role === 'tenant_owner' || role === 'user')) {
      return Promise.resolve({
        isPlatformAdmin: false,
        tenantId,
        role,
        via: 'session',
        userId: `u-${role}`,
      });
    }
    return Promise.reject(commonError('COMMON.UNAUTHENTICATED', 'test credentials expected'));
  }
}

export const asAdmin = 'Bearer test-admin';
export const asMember = (tenantId: string, role: 'tenant_owner' | 'user' = 'tenant_owner') =>
  `Bearer test-member:${tenantId}:${role}`;

export const withTestBearer = (builder: TestingModuleBuilder) =>
  builder.overrideProvider(RequestAuthenticator).useClass(TestBearerAuthenticator);

export function uniqueName(label: string): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

/** SQL as the superuser (test-only admin work: roles, databases, audits). */
/** The platform database of this run (each parallel worker has its own). */
export const PLATFORM_DB = new URL(process.env.DATABASE_URL!).pathname.slice(1);
/** The default tenant cluster's database of this run. */
export const TENANT_DB = process.env.TENANT_DATABASE_NAME!;

export async function adminSql<T = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
  database = 'postgres',
): Promise<T[]> {
  const client = new Client({ ...PG, user: 'postgres', password: 'postgres', database });
  await client.connect();
  try {
    return (await client.query(sql, params.length ? params : undefined)).rows as T[];
  } finally {
    await client.end();
  }
}

/** SQL as any role (e.g. the runtime role, to check what it can see without a tenant set). */
export async function sqlAs<T = Record<string, unknown>>(
  login: { user: string; password: string; database: string },
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ ...PG, ...login });
  await client.connect();
  try {
    // Several statements answer one result each: the last one is what the caller asked for.
    const result = (await client.query(sql, params.length ? params : undefined)) as unknown;
    const last = (Array.isArray(result) ? result.at(-1) : result) as { rows: T[] };
    return last.rows;
  } finally {
    await client.end();
  }
}

/**
 * A login role of its own that acts as the runtime role (a member of tessera_app: same grants,
 * owns nothing, no BYPASSRLS). Gives a test its own pool identity, and a password it may rotate.
 */
export async function scratchRole(): Promise<{
  username: string;
  password: string;
  rotate(password: string): Promise<void>;
  drop(): Promise<void>;
}> {
  const username = `tessera_t_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await adminSql(
    `create role ${username} login password '${password}' nosuperuser nobypassrls inherit in role tessera_app`,
  );
  return {
    username,
    password,
    rotate: async (next) => {
      await adminSql(`alter role ${username} password '${next}'`);
    },
    drop: async () => {
      await adminSql('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [
        username,
      ]);
      await adminSql(`drop role if exists ${username}`);
    },
  };
}

/** A silo database of its own, owned by tessera_owner, with the same grants as the default cluster. */
export async function scratchDatabase(): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `tessera_silo_${randomBytes(4).toString('hex')}`;
  await adminSql(`create database ${name} owner tessera_owner`);
  await adminSql(
    `grant connect on database ${name} to tessera_app;
     revoke create on schema public from public;
     grant usage on schema public to tessera_app;
     alter default privileges for role tessera_owner in schema public grant select, insert, update, delete on tables to tessera_app;
     alter default privileges for role tessera_owner in schema public grant usage, select on sequences to tessera_app;`,
    [],
    name,
  );
  return {
    name,
    drop: async () => {
      await adminSql(`drop database if exists ${name} with (force)`);
    },
  };
}

export function secretsClient(endpoint = process.env.AWS_ENDPOINT_URL): SecretsManagerClient {
  return new SecretsManagerClient({
    region: process.env.AWS_REGION ?? 'us-east-1',
    endpoint,
    maxAttempts: 1,
  });
}

export interface SecretJson {
  engine?: string;
  host?: string;
  port?: number;
  database?: string;
  username: string;
  password: string;
  pool?: { max?: number; idle_timeout_ms?: number };
  owner_username?: string;
  owner_password?: string;
  sslmode?: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  sslrootcert?: string;
}

export function secretJson(overrides: Partial<SecretJson> = {}): SecretJson {
  return {
    engine: 'postgresql',
    host: '127.0.0.1',
    port: 5432,
    database: TENANT_DB,
    username: 'tessera_app',
    password: 'tessera_app',
    ...overrides,
  };
}

/** Writes (creates or replaces) a secret in Secrets Manager. */
export async function putSecret(
  client: SecretsManagerClient,
  name: string,
  value: object,
): Promise<void> {
  const SecretString = JSON.stringify(value);
  try {
    await client.send(new CreateSecretCommand({ Name: name, SecretString }));
  } catch (error) {
    if (!(error instanceof ResourceExistsException)) throw error;
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString }));
  }
}

export async function readSecret(
  client: SecretsManagerClient,
  name: string,
): Promise<Record<string, unknown>> {
  const out = await client.send(
    new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }),
  );
  return JSON.parse(out.SecretString ?? '{}') as Record<string, unknown>;
}

export async function deleteSecret(client: SecretsManagerClient, name: string): Promise<void> {
  await client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
}

export function tenantSecretName(tenantId: string): string {
  return `${process.env.TENANT_SECRET_PREFIX ?? 'tessera-test/tenants'}/${tenantId}/database`;
}

export { randomUUID };

/** One unit of work as a request does it: a tenant context, then TenantDatabase.run. */
export function unitOfWork<T>(
  t: TestApp,
  tenantId: string,
  work: (manager: EntityManager) => Promise<T>,
): Promise<T> {
  const principal = {
    tenantId,
    isPlatformAdmin: false,
    via: 'header' as const,
    role: 'user' as const,
  };
  return t.app
    .get(TenantContext)
    .run({ transport: 'internal', principal }, () => t.app.get(TenantDatabase).run(work));
}
