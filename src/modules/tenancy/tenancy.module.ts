import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeysService } from './api-keys.service';
import { TenantAuditController } from './audit/tenant-audit.controller';
import { TenantAuditTrail } from './audit/tenant-audit.service';
import { TenancyHealthController } from './tenancy-health.controller';
import { TenancyHealthService } from './tenancy-health.service';
import { TenantApiKeyEntity } from './tenant-api-key.entity';
import { CurrentTenantController } from './current-tenant.controller';
import { TenantEntity } from './tenant.entity';
import { TenantDatabase } from './database/tenant-database.service';
import { registerTenantEntities } from './database/tenant-entities';
import { TenantMigratorService } from './database/tenant-migrator.service';
import { TenantMigrationsRunner } from './database/tenant-migrations.runner';
import { TenantPoolsService } from './database/tenant-pools.service';
import { TenantProvisionerService } from './tenant-provisioner.service';
import { TenantSecretsService } from './database/tenant-secrets.service';
import { TenantsController } from './tenants.controller';
import { TenantsService } from './tenants.service';

@Module({
  imports: [TypeOrmModule.forFeature([TenantEntity, TenantApiKeyEntity])],
  controllers: [
    TenantsController,
    CurrentTenantController,
    TenantAuditController,
    TenancyHealthController,
  ],
  providers: [
    TenantsService,
    ApiKeysService,
    TenantSecretsService,
    TenantPoolsService,
    TenantMigratorService,
    TenantMigrationsRunner,
    TenantDatabase,
    TenantProvisionerService,
    TenancyHealthService,
    TenantAuditTrail,
  ],
  exports: [
    TenantsService,
    ApiKeysService,
    TenantDatabase,
    TenantMigrationsRunner,
    TenantAuditTrail,
  ],
})
export class TenancyModule {
  /**
   * For a module with tenant tables: registers its entities with every tenant pool and gives it
   * TenantDatabase. Import `TenancyModule.forFeature([MyEntity])` (TenancyModule itself is in AppModule).
   */
  static forFeature(entities: Parameters<typeof registerTenantEntities>[0]): DynamicModule {
    registerTenantEntities(entities);
    return { module: TenancyFeatureModule };
  }
}

/** What `forFeature` hands out: the services of the one TenancyModule instance. */
@Module({ imports: [TenancyModule], exports: [TenancyModule] })
class TenancyFeatureModule {}
