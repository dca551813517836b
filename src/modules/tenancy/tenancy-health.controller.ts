import { Controller, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import {
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, PlatformAdminOnly } from '../../shared/auth';
import { ApiKeysService } from './api-keys.service';
import { CacheFiguresDto, TenantHealthDto, TenantsHealthDto } from './dto/tenant-views.dto';
import { tenantNotFound } from './tenancy.errors';
import { TenancyHealthService, type TenantHealth } from './tenancy-health.service';
import { TenantSecretsService } from './database/tenant-secrets.service';
import { TenantsService } from './tenants.service';

/** Served at the root (outside /api/v1): /health/tenants, /health/tenant/:id, /health/cache, /admin/cache/clear. */
@ApiTags('health')
@Authenticated()
@PlatformAdminOnly()
@Controller()
export class TenancyHealthController {
  constructor(
    private readonly health: TenancyHealthService,
    private readonly tenants: TenantsService,
    private readonly secrets: TenantSecretsService,
    private readonly apiKeys: ApiKeysService,
  ) {}

  @Get('health/tenants')
  @ApiOperation({ summary: 'Connection health of every tenant, with a summary (platform admin)' })
  @ApiOkResponse({
    description: '`{summary: {total, healthy, unhealthy, pools}, tenants: [...]}`',
    type: TenantsHealthDto,
  })
  tenantsHealth() {
    return this.health.all();
  }

  @Get('health/tenant/:id')
  @ApiOperation({ summary: 'One tenant’s connection health and pool figures (platform admin)' })
  @ApiOkResponse({
    description: '`{tenant_id, name, status, healthy, latency_ms, error?, pool}`',
    type: TenantHealthDto,
  })
  @ApiNotFoundResponse({ description: 'Unknown or deleted tenant' })
  async tenantHealth(@Param('id', new ParseUUIDPipe()) id: string): Promise<TenantHealth> {
    const tenant = await this.tenants.findById(id);
    if (!tenant || tenant.status === 'deleted') throw tenantNotFound(id);
    return this.health.probe(id, tenant.name, tenant.status);
  }

  @Get('health/cache')
  @ApiOperation({ summary: 'Secret cache and pool cache figures (platform admin)' })
  @ApiOkResponse({
    description:
      'hits, misses, hit rate, size, evictions, negative entries, fetch latency p50/p99; pools',
    type: CacheFiguresDto,
  })
  cache() {
    return this.health.cache();
  }

  @Post('admin/cache/clear')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Forget every cached tenant secret and API key: the next use reads them again',
  })
  @ApiNoContentResponse({ description: 'Cleared' })
  clear(): void {
    this.secrets.clear();
    this.apiKeys.clearCache();
  }
}
