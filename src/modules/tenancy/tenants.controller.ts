import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
  Query,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiExtension,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Allow, Authenticated, PlatformAdminOnly } from '../../shared/auth';
import { TenantContext } from '../../shared/tenant-context';
import { ApiKeysService, type IssuedApiKey } from './api-keys.service';
import { CreateTenantDto, ListTenantsQueryDto, UpdateTenantDto } from './dto/tenant.dto';
import {
  IssuedApiKeyDto,
  ProvisionedTenantDto,
  TenantPageDto,
  TenantViewDto,
} from './dto/tenant-views.dto';
import { tenantNotFound } from './tenancy.errors';
import type { AuditAction, AuditDetails } from './audit/tenant-audit.actions';
import { TenantAuditTrail } from './audit/tenant-audit.service';
import { type ProvisionedTenant, TenantProvisionerService } from './tenant-provisioner.service';
import { type TenantPage, TenantsService, type TenantView } from './tenants.service';

const uuid = new ParseUUIDPipe({ version: undefined });

@ApiTags('tenants')
@Authenticated()
@Controller('tenants')
export class TenantsController {
  constructor(
    private readonly context: TenantContext,
    private readonly tenants: TenantsService,
    private readonly provisioner: TenantProvisionerService,
    private readonly apiKeys: ApiKeysService,
    private readonly trail: TenantAuditTrail,
  ) {}

  @Post()
  @PlatformAdminOnly()
  @ApiOperation({
    summary:
      'Create and provision a tenant (database secret, schema, first API key, tenant.provisioned)',
  })
  @ApiCreatedResponse({
    description: 'The tenant with `api_key` (shown this once)',
    type: ProvisionedTenantDto,
  })
  @ApiBadRequestResponse({ description: 'Invalid body, or database_secret_id missing or invalid' })
  @ApiConflictResponse({ description: 'A tenant with this name exists' })
  @ApiExtension(
    'x-refuses-valid-input',
    'database_secret_id must name a secret that exists (400 TENANCY.INVALID_SECRET)',
  )
  @ApiServiceUnavailableResponse({
    description: 'Provisioning failed (tenant left provisioning_failed: create it again to retry)',
  })
  create(@Body() body: CreateTenantDto): Promise<ProvisionedTenant> {
    return this.provisioner.create(body);
  }

  @Get()
  @PlatformAdminOnly()
  @ApiOperation({ summary: 'List tenants, newest first (deleted ones with ?status=deleted)' })
  @ApiOkResponse({ description: '`{data, next_cursor}`', type: TenantPageDto })
  list(@Query() query: ListTenantsQueryDto): Promise<TenantPage> {
    return this.tenants.list(query);
  }

  @Get(':id')
  @Allow({ platformAdmin: true, roles: 'any' })
  @ApiOperation({ summary: 'One tenant (platform admin, or a member of it)' })
  @ApiOkResponse({ description: 'The tenant', type: TenantViewDto })
  @ApiNotFoundResponse({ description: 'Unknown, deleted, or not the caller’s tenant' })
  async get(@Param('id', uuid) id: string): Promise<TenantView> {
    this.assertReach(id);
    const tenant = await this.tenants.findById(id);
    if (!tenant || tenant.status === 'deleted') throw tenantNotFound(id);
    return tenant;
  }

  @Put(':id')
  @Allow({ platformAdmin: true, roles: ['tenant_owner'] })
  @ApiOperation({
    summary: 'Rename a tenant or open/close self sign-up (platform admin, tenant owner)',
  })
  @ApiOkResponse({ description: 'The tenant', type: TenantViewDto })
  @ApiNotFoundResponse({ description: 'Unknown, deleted, or not the caller’s tenant' })
  @ApiConflictResponse({ description: 'The name is taken, or the tenant is not active' })
  async update(@Param('id', uuid) id: string, @Body() body: UpdateTenantDto): Promise<TenantView> {
    this.assertReach(id);
    const tenant = await this.tenants.update(id, body);
    await this.audit(id, 'tenant.updated', { ...body });
    return tenant;
  }

  @Delete(':id')
  @PlatformAdminOnly()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary:
      'Delete a tenant: tenant.deleting (modules drain and stop), keys revoked, marked deleted',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiNotFoundResponse({ description: 'Unknown or already deleted' })
  @ApiConflictResponse({
    description: 'Still provisioning (TENANCY.TENANT_NOT_ACTIVE): retry after',
  })
  async remove(@Param('id', uuid) id: string): Promise<void> {
    await this.provisioner.delete(id);
  }

  @Post(':id/api-keys')
  @Allow({ platformAdmin: true, roles: ['tenant_owner'] })
  @ApiOperation({ summary: 'Issue an API key for the tenant (shown once)' })
  @ApiCreatedResponse({
    description: '`{id, api_key, key_prefix, created_at}`',
    type: IssuedApiKeyDto,
  })
  @ApiNotFoundResponse({ description: 'Unknown, deleted, or not the caller’s tenant' })
  @ApiConflictResponse({ description: 'The tenant is not active' })
  async createKey(@Param('id', uuid) id: string): Promise<IssuedApiKey> {
    this.assertReach(id);
    await this.tenants.requireActive(id);
    const key = await this.apiKeys.issue(id);
    await this.audit(id, 'api_key.created', { api_key_id: key.id, key_prefix: key.key_prefix });
    return key;
  }

  @Delete(':id/api-keys/:key_id')
  @Allow({ platformAdmin: true, roles: ['tenant_owner'] })
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Revoke one of the tenant’s API keys' })
  @ApiNoContentResponse({
    description: 'Revoked (this instance at once; others within API_KEY_CACHE_TTL_MS)',
  })
  @ApiNotFoundResponse({ description: 'No such live key for this tenant' })
  async revokeKey(
    @Param('id', uuid) id: string,
    @Param('key_id', uuid) keyId: string,
  ): Promise<void> {
    this.assertReach(id);
    await this.apiKeys.revoke(id, keyId);
    await this.audit(id, 'api_key.revoked', { api_key_id: keyId });
  }

  /** Members reach only their own tenant; another tenant's id answers 404 (its existence is not revealed). */
  private assertReach(id: string): void {
    const principal = this.context.principal;
    if (principal.isPlatformAdmin) return;
    if (principal.tenantId !== id) throw tenantNotFound(id);
  }

  /** Best effort: the change is made; a tenant database that does not answer only loses the audit line. */
  private audit(tenantId: string, action: AuditAction, details: AuditDetails): Promise<void> {
    return this.trail.record(tenantId, action, details);
  }
}
