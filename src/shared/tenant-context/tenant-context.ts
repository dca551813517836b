import { Injectable } from '@nestjs/common';
import { ClsService, ClsServiceManager, CLS_ID } from 'nestjs-cls';
import { randomUUID } from 'node:crypto';
import { commonError } from '../errors/app-error';
import { setTenantReader } from '../telemetry';
import type { Principal, TenantContextStore, Transport } from './tenant-context.types';

export interface ContextSeed {
  transport: Transport;
  requestId?: string;
  principal?: Principal;
}

/**
 * The one accessor for "who is the tenant of this unit of work". Reads throw when nothing set
 * the tenant: a silent fallback would skip the isolation check.
 */
@Injectable()
export class TenantContext {
  constructor(private readonly cls: ClsService<TenantContextStore>) {
    // Spans take their tenant from here (tracing's span processor).
    setTenantReader(() => this.principalOrNull()?.tenantId);
  }

  get tenantId(): string {
    const principal = this.principalOrNull();
    if (principal?.tenantId) return principal.tenantId;
    if (principal?.isPlatformAdmin) {
      throw commonError(
        'COMMON.TENANT_REQUIRED',
        'This route works on one tenant: send X-Tenant-ID',
      );
    }
    throw commonError('COMMON.TENANT_CONTEXT_MISSING', 'No tenant is set for this unit of work');
  }

  get principal(): Principal {
    const principal = this.principalOrNull();
    if (!principal) {
      throw commonError(
        'COMMON.TENANT_CONTEXT_MISSING',
        'No principal is set for this unit of work',
      );
    }
    return principal;
  }

  principalOrNull(): Principal | undefined {
    return this.cls.isActive() ? this.cls.get('principal') : undefined;
  }

  get requestId(): string | undefined {
    return this.cls.isActive() ? this.cls.getId() : undefined;
  }

  get transport(): Transport | undefined {
    return this.cls.isActive() ? this.cls.get('transport') : undefined;
  }

  /** Sets the principal of the current (already open) context. */
  setPrincipal(principal: Principal): void {
    this.cls.set('principal', principal);
  }

  /** Runs `work` in a fresh context: what consumers and workers outside Nest's enhancers use. */
  run<T>(seed: ContextSeed, work: () => Promise<T>): Promise<T> {
    return runInTenantContext(seed, work, this.cls);
  }
}

export function runInTenantContext<T>(
  seed: ContextSeed,
  work: () => Promise<T>,
  cls: ClsService<TenantContextStore> = ClsServiceManager.getClsService<TenantContextStore>(),
): Promise<T> {
  return cls.run({ ifNested: 'override' }, () => {
    cls.set(CLS_ID, seed.requestId ?? randomUUID());
    cls.set('transport', seed.transport);
    if (seed.principal) cls.set('principal', seed.principal);
    return work();
  });
}
