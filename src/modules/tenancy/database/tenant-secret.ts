import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PG_SSL_MODES } from '../../../config';
import type { PgTls } from '../../../shared/database';

/** The JSON of `${TENANT_SECRET_PREFIX}/${tenantId}/database`. `dbname` (RDS's name) is accepted for `database`. */
export const tenantSecretSchema = z
  .object({
    engine: z.enum(['postgresql', 'postgres'], { error: "engine must be 'postgresql'" }),
    host: z.string().min(1),
    port: z.coerce.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1).optional(),
    dbname: z.string().min(1).optional(),
    username: z.string().min(1),
    password: z.string().min(1),
    pool: z
      .object({
        max: z.number().int().min(1).max(200).optional(),
        idle_timeout_ms: z.number().int().min(1_000).optional(),
      })
      .optional(),
    // Optional owner credentials that apply the tenant migrations to a silo database.
    owner_username: z.string().min(1).optional(),
    owner_password: z.string().min(1).optional(),
    // TLS to this tenant's database: libpq's sslmode, and a CA bundle as PEM text.
    sslmode: z.enum(PG_SSL_MODES).default('disable'),
    sslrootcert: z
      .string()
      .refine((value) => value.includes('-----BEGIN CERTIFICATE-----'), {
        message: 'expected PEM text with a BEGIN CERTIFICATE line',
      })
      .optional(),
  })
  .refine((s) => s.database ?? s.dbname, { message: 'database is required', path: ['database'] });

export type TenantSecretJson = z.input<typeof tenantSecretSchema>;

/** Where a pool connects; pools are keyed by this, never by tenant. */
export interface ConnectionIdentity {
  host: string;
  port: number;
  database: string;
  username: string;
}

/** A tenant's resolved database secret. */
export interface TenantSecret {
  tenantId: string;
  secretId: string;
  identity: ConnectionIdentity;
  /** `host:port/database/user`: the pool key. */
  identityKey: string;
  password: string;
  /** TLS to the database (part of the pool key: a pool never serves another TLS setting). */
  tls: PgTls;
  pool: { max?: number; idleTimeoutMs?: number };
  owner?: { username: string; password: string };
  /** When it was read from Secrets Manager (ms since epoch). */
  fetchedAt: number;
  /** Served from cache after a failed refresh (Secrets Manager unreachable). */
  stale: boolean;
}

export function identityKeyOf(identity: ConnectionIdentity): string {
  return `${identity.host}:${identity.port}/${identity.database}/${identity.username}`;
}

/** What makes two secrets' TLS differ, for the pool key (a CA is told apart by its digest). */
function tlsKeyOf(mode: PgTls['mode'], ca: string | undefined): string {
  if (mode === 'disable') return '';
  return ca
    ? `?${mode}&ca=${createHash('sha256').update(ca).digest('hex').slice(0, 12)}`
    : `?${mode}`;
}

/** Parses a secret's text; throws a message a person can act on (never echoing the password). */
export function parseTenantSecret(
  tenantId: string,
  secretId: string,
  text: string | undefined,
): Omit<TenantSecret, 'fetchedAt' | 'stale'> {
  let json: unknown;
  try {
    json = JSON.parse(text ?? '');
  } catch {
    throw new Error(`secret ${secretId} is not JSON`);
  }
  const parsed = tenantSecretSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new Error(`secret ${secretId} is invalid: ${problems}`);
  }
  const s = parsed.data;
  const identity = {
    host: s.host,
    port: s.port,
    database: (s.database ?? s.dbname)!,
    username: s.username,
  };
  return {
    tenantId,
    secretId,
    identity,
    identityKey: identityKeyOf(identity) + tlsKeyOf(s.sslmode, s.sslrootcert),
    password: s.password,
    tls: { mode: s.sslmode, ca: s.sslrootcert },
    pool: { max: s.pool?.max, idleTimeoutMs: s.pool?.idle_timeout_ms },
    owner:
      s.owner_username && s.owner_password
        ? { username: s.owner_username, password: s.owner_password }
        : undefined,
  };
}
