import { Controller, Get } from '@nestjs/common';
import {
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Allow, Authenticated } from '../../shared/auth';
import { TenantContext } from '../../shared/tenant-context';
import { TenantInfoDto, TenantStatsDto } from './dto/tenant-views.dto';
import { tenantNotFound } from './tenancy.errors';
import { TenantDatabase } from './database/tenant-database.service';
import type { PoolStats } from './database/tenant-pools.service';
import { TenantsService } from './tenants.service';

export interface TenantInfo {
  tenant_id: string;
  name: string;
  status: string;
  database: { engine: 'postgresql'; host: string; port: number; database: string };
  pool: Omit<PoolStats, 'user'> | null;
}

/**
 * `tables` are the tenant's own rows. `database` and `pool` describe what pooled tenants share (the
 * whole database, the pool of one database identity): platform admins only, null for members.
 */
export interface TenantStats {
  tenant_id: string;
  tables: Record<string, number>;
  database: { size_bytes: number; connections: number; commits: number; rollbacks: number } | null;
  pool: Omit<PoolStats, 'user'> | null;
}

/** The current tenant (from the context), for its members. */
@ApiTags('tenant')
@Authenticated()
@Allow({ platformAdmin: true, roles: 'any' })
@Controller('tenant')
export class CurrentTenantController {
  constructor(
    private readonly context: TenantContext,
    private readonly tenants: TenantsService,
    private readonly tenantDb: TenantDatabase,
  ) {}

  @Get('info')
  @ApiOperation({ summary: 'The current tenant and where its data lives (never credentials)' })
  @ApiOkResponse({
    description: '`{tenant_id, name, status, database: {engine, host, port, database}, pool}`',
    type: TenantInfoDto,
  })
  @ApiNotFoundResponse({ description: 'Unknown or deleted tenant' })
  @ApiServiceUnavailableResponse({ description: 'Its secret or database cannot be reached' })
  async info(): Promise<TenantInfo> {
    const tenantId = this.context.tenantId;
    const tenant = await this.tenants.findById(tenantId);
    if (!tenant || tenant.status === 'deleted') throw tenantNotFound(tenantId);
    const { secret, pool } = await this.tenantDb.poolOf(tenantId);
    const { host, port, database } = secret.identity;
    return {
      tenant_id: tenantId,
      name: tenant.name,
      status: tenant.status,
      database: { engine: 'postgresql', host, port, database },
      pool: withoutUser(pool),
    };
  }

  @Get('stats')
  @ApiOperation({
    summary:
      'Row counts of the tenant’s tables; database and pool figures (shared with other pooled tenants) for platform admins only',
  })
  @ApiOkResponse({
    description:
      '`{tenant_id, tables: {name: rows}, database, pool}` (database, pool null for members)',
    type: TenantStatsDto,
  })
  @ApiNotFoundResponse({ description: 'Unknown or deleted tenant' })
  async stats(): Promise<TenantStats> {
    const tenantId = this.context.tenantId;
    const admin = this.context.principal.isPlatformAdmin;
    const result = await this.tenantDb.run(async (manager) => {
      const tables = await manager.query<Array<{ name: string }>>(
        `select c.relname as name from pg_class c
           join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
          where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
          order by c.relname`,
      );
      const counts: Record<string, number> = {};
      // Row-level security limits each count to this tenant's rows.
      for (const { name } of tables) {
        const [row] = await manager.query<Array<{ n: string }>>(
          `select count(*) as n from "${name.replace(/"/g, '""')}"`,
        );
        counts[name] = Number(row.n);
      }
      if (!admin) return { counts, db: null };
      const [db] = await manager.query<
        Array<{ size: string; backends: number; commits: string; rollbacks: string }>
      >(
        `select pg_database_size(current_database()) as size, numbackends as backends,
                xact_commit as commits, xact_rollback as rollbacks
           from pg_stat_database where datname = current_database()`,
      );
      return { counts, db };
    });
    if (!result.db)
      return { tenant_id: tenantId, tables: result.counts, database: null, pool: null };
    const { pool } = await this.tenantDb.poolOf(tenantId);
    return {
      tenant_id: tenantId,
      tables: result.counts,
      database: {
        size_bytes: Number(result.db.size),
        connections: Number(result.db.backends),
        commits: Number(result.db.commits),
        rollbacks: Number(result.db.rollbacks),
      },
      pool: withoutUser(pool),
    };
  }
}

/** Members see where their data lives and how busy the pool is, not which role connects. */
function withoutUser(pool: PoolStats | null): Omit<PoolStats, 'user'> | null {
  if (!pool) return null;
  const { user: _user, ...rest } = pool;
  return rest;
}
