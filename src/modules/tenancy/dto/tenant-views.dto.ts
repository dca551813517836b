import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

/** Response shapes of the tenancy routes, for the OpenAPI document (the services build them). */

const instant = z.string().describe('ISO 8601 date-time');
const tenantStatus = z.enum([
  'provisioning',
  'active',
  'provisioning_failed',
  'deleting',
  'deleted',
]);

const tenantView = z.object({
  id: z.uuid(),
  name: z.string(),
  status: tenantStatus,
  allow_self_signup: z.boolean(),
  concurrency_config: z.number().int(),
  created_at: instant,
  updated_at: instant,
  provisioning_error: z.string().optional().describe('While the status is provisioning_failed'),
});

export class TenantViewDto extends createZodDto(tenantView) {}

export class TenantPageDto extends createZodDto(
  z.object({ data: z.array(tenantView), next_cursor: z.string().nullable() }),
) {}

export class ProvisionedTenantDto extends createZodDto(
  tenantView.extend({
    api_key: z.string().describe('Shown this once'),
    api_key_id: z.uuid(),
  }),
) {}

export class IssuedApiKeyDto extends createZodDto(
  z.object({
    id: z.uuid(),
    api_key: z.string().describe('Shown this once'),
    key_prefix: z.string(),
    created_at: instant,
  }),
) {}

const poolFigures = {
  host: z.string(),
  port: z.number().int(),
  database: z.string(),
  max: z.number().int(),
  total: z.number().int(),
  in_use: z.number().int(),
  idle: z.number().int(),
  waiting: z.number().int(),
  leases: z.number().int(),
};
/** What members see of the pool: not which role connects. */
const memberPool = z.object(poolFigures).nullable();

export class TenantInfoDto extends createZodDto(
  z.object({
    tenant_id: z.uuid(),
    name: z.string(),
    status: tenantStatus,
    database: z.object({
      engine: z.literal('postgresql'),
      host: z.string(),
      port: z.number().int(),
      database: z.string(),
    }),
    pool: memberPool,
  }),
) {}

export class TenantStatsDto extends createZodDto(
  z.object({
    tenant_id: z.uuid(),
    tables: z.record(z.string(), z.number().int()).describe('Rows of this tenant, by table'),
    database: z
      .object({
        size_bytes: z.number().int(),
        connections: z.number().int(),
        commits: z.number().int(),
        rollbacks: z.number().int(),
      })
      .nullable()
      .describe('The whole database: platform admins only'),
    pool: memberPool.describe('Platform admins only'),
  }),
) {}

const tenantHealth = z.object({
  tenant_id: z.uuid(),
  name: z.string(),
  status: z.string(),
  healthy: z.boolean(),
  latency_ms: z.number(),
  error: z.string().optional(),
  secret_stale: z.boolean().optional(),
  pool: z.object({ ...poolFigures, user: z.string() }).nullable(),
});

export class TenantHealthDto extends createZodDto(tenantHealth) {}

export class TenantsHealthDto extends createZodDto(
  z.object({
    summary: z.object({
      total: z.number().int(),
      healthy: z.number().int(),
      unhealthy: z.number().int(),
      pools: z.number().int(),
    }),
    tenants: z.array(tenantHealth),
  }),
) {}

export class CacheFiguresDto extends createZodDto(
  z.object({
    secrets: z
      .looseObject({
        hits: z.number().int(),
        misses: z.number().int(),
        hit_rate: z.number().nullable(),
        size: z.number().int(),
        evictions: z.number().int(),
        negative_entries: z.number().int(),
      })
      .describe('Secret cache: hits, misses, hit rate, size, evictions, fetch latency …'),
    pools: z
      .looseObject({ size: z.number().int(), pools: z.array(z.looseObject({})) })
      .describe('Pool cache: size, evictions, connections, every pool'),
    api_keys: z.object({ cached: z.number().int() }),
  }),
) {}
