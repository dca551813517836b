import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { createHash, randomBytes } from 'node:crypto';
import { type EntityManager, IsNull, type Repository } from 'typeorm';
import { tenancyConfig, type TenancyConfig } from '../../config';
import { emitLifecycleEvent } from '../../shared/lifecycle';
import { tenancyError } from './tenancy.errors';
import {
  API_KEY_ISSUED,
  API_KEY_REVOKED,
  ApiKeyIssuedEvent,
  ApiKeyRevokedEvent,
} from './tenancy.events';
import { TenantApiKeyEntity } from './tenant-api-key.entity';
import { isTenantId } from './tenant-id';

const KEY_PREFIX = 'tsk_';
const KEY_PATTERN = /^tsk_[A-Za-z0-9_-]{43}$/;

export interface ApiKeyPrincipal {
  tenantId: string;
  keyId: string;
}

/** A freshly issued key: `api_key` is shown this once and never stored. */
export interface IssuedApiKey {
  id: string;
  api_key: string;
  key_prefix: string;
  created_at: string;
}

export function hashApiKey(rawKey: string): string {
  return createHash('sha256').update(rawKey, 'utf8').digest('hex');
}

/**
 * Tenant API keys: `tsk_` + 32 random bytes (base64url). Only a display prefix and the SHA-256
 * are stored. Positive resolutions are cached for API_KEY_CACHE_TTL_MS (default 10 s); revoking
 * on this instance drops the entry at once, other instances within that TTL.
 */
@Injectable()
export class ApiKeysService {
  private readonly logger = new Logger(ApiKeysService.name);
  private readonly cache?: LRUCache<string, ApiKeyPrincipal>;

  constructor(
    @Inject(tenancyConfig.KEY) config: TenancyConfig,
    @InjectRepository(TenantApiKeyEntity) private readonly keys: Repository<TenantApiKeyEntity>,
    private readonly events: EventEmitter2,
  ) {
    if (config.apiKeyCacheTtlMs > 0)
      this.cache = new LRUCache({ max: 10_000, ttl: config.apiKeyCacheTtlMs });
  }

  /** The tenant and key of a raw key: null unless it is a live key of an active tenant. */
  async resolve(rawKey: string): Promise<ApiKeyPrincipal | null> {
    if (typeof rawKey !== 'string' || !KEY_PATTERN.test(rawKey)) return null;
    const hash = hashApiKey(rawKey);
    const cached = this.cache?.get(hash);
    if (cached) return cached;
    const rows = await this.keys.query<Array<{ id: string; tenant_id: string }>>(
      `select k.id, k.tenant_id from tenant_api_keys k join tenants t on t.id = k.tenant_id
        where k.key_hash = $1 and k.revoked_at is null and t.status = 'active'`,
      [hash],
    );
    const row = rows[0];
    if (!row) return null;
    const principal = { tenantId: row.tenant_id, keyId: row.id };
    this.cache?.set(hash, principal);
    return principal;
  }

  /**
   * Issues a key for the tenant (inside `manager`'s transaction when given: the caller then emits
   * `tenancy.api_key.issued` after its commit).
   */
  async issue(tenantId: string, manager?: EntityManager): Promise<IssuedApiKey> {
    const apiKey = KEY_PREFIX + randomBytes(32).toString('base64url');
    const repository = manager ? manager.getRepository(TenantApiKeyEntity) : this.keys;
    const saved = await repository.save(
      repository.create({
        tenantId,
        keyPrefix: apiKey.slice(0, 12),
        keyHash: hashApiKey(apiKey),
        revokedAt: null,
      }),
    );
    if (!manager) this.emit(API_KEY_ISSUED, new ApiKeyIssuedEvent(tenantId, saved.id));
    return {
      id: saved.id,
      api_key: apiKey,
      key_prefix: saved.keyPrefix,
      created_at: saved.createdAt.toISOString(),
    };
  }

  /** Revokes one key of the tenant; 404 when the tenant has no such live key. */
  async revoke(tenantId: string, keyId: string): Promise<void> {
    if (!isTenantId(keyId)) throw tenancyError('TENANCY.API_KEY_NOT_FOUND', 'API key not found');
    const result = await this.keys.update(
      { id: keyId, tenantId, revokedAt: IsNull() },
      { revokedAt: () => 'now()' },
    );
    if (!result.affected)
      throw tenancyError('TENANCY.API_KEY_NOT_FOUND', `API key ${keyId} not found`);
    this.forget((principal) => principal.keyId === keyId);
    this.emit(API_KEY_REVOKED, new ApiKeyRevokedEvent(tenantId, keyId));
  }

  /**
   * Revokes every key of the tenant (deletion, failed provisioning); one `tenancy.api_key.revoked`
   * per key, unless inside `manager`'s transaction (the caller emits after its commit).
   */
  async revokeAll(tenantId: string, manager?: EntityManager): Promise<string[]> {
    const repository = manager ? manager.getRepository(TenantApiKeyEntity) : this.keys;
    const result = await repository
      .createQueryBuilder()
      .update()
      .set({ revokedAt: () => 'now()' })
      .where('tenant_id = :tenantId and revoked_at is null', { tenantId })
      .returning(['id'])
      .execute();
    this.forget((principal) => principal.tenantId === tenantId);
    const ids = ((result.raw ?? []) as Array<{ id: string }>).map((row) => row.id);
    if (!manager)
      for (const id of ids) this.emit(API_KEY_REVOKED, new ApiKeyRevokedEvent(tenantId, id));
    return ids;
  }

  clearCache(): void {
    this.cache?.clear();
  }

  cacheSize(): number {
    return this.cache?.size ?? 0;
  }

  private emit(name: string, payload: object): void {
    emitLifecycleEvent(this.events, this.logger, name, payload);
  }

  private forget(match: (principal: ApiKeyPrincipal) => boolean): void {
    if (!this.cache) return;
    for (const [hash, principal] of this.cache.entries())
      if (match(principal)) this.cache.delete(hash);
  }
}
