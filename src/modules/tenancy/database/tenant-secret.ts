import { z } from 'zod';

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
    identityKey: identityKeyOf(identity),
    password: s.password,
    pool: { max: s.pool?.max, idleTimeoutMs: s.pool?.idle_timeout_ms },
    owner:
      s.owner_username && s.owner_password
        ? { username: s.owner_username, password: s.owner_password }
        : undefined,
  };
}
