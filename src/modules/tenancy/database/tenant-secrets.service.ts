import { GetSecretValueCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import type { Repository } from 'typeorm';
import { tenancyConfig, type TenancyConfig } from '../../../config';
import { AwsClients } from '../../../shared/aws';
import { AppError } from '../../../shared/errors';
import { tenancyError, tenantNotFound } from '../tenancy.errors';
import {
  LatencyWindow,
  secretEvictions,
  secretFetchSeconds,
  secretLookups,
} from '../tenancy.metrics';
import { TenantEntity } from '../tenant.entity';
import { parseTenantSecret, type TenantSecret } from './tenant-secret';
import { tenantLabel } from '../../../shared/metrics';

type Entry =
  | { kind: 'found'; secret: TenantSecret }
  | { kind: 'missing'; reason: string }
  | { kind: 'invalid'; reason: string };

/**
 * Tenant id → database secret, through a TTL cache (lru-cache): concurrent misses share one
 * Secrets Manager call, unknown tenants are cached briefly as negative entries, and when Secrets
 * Manager fails a cached secret keeps serving (stale, with a warning) while an uncached tenant
 * gets 503.
 */
@Injectable()
export class TenantSecretsService {
  private readonly logger = new Logger(TenantSecretsService.name);
  private readonly cache: LRUCache<string, Entry>;
  private readonly latency = new LatencyWindow();
  private readonly counts = {
    hits: 0,
    misses: 0,
    coalesced: 0,
    evictions: 0,
    fetches: 0,
    fetchErrors: 0,
    staleServed: 0,
  };

  constructor(
    @Inject(tenancyConfig.KEY) private readonly config: TenancyConfig,
    private readonly aws: AwsClients,
    @InjectRepository(TenantEntity) private readonly tenants: Repository<TenantEntity>,
  ) {
    this.cache = new LRUCache<string, Entry>({
      max: config.secretCache.max,
      ttl: config.secretCache.ttlMs,
      // Expired entries stay until read, so a failed refresh can still serve them (stale-on-error).
      ttlAutopurge: false,
      // delete/clear/evict abort a running fetch, and lru-cache would then answer its waiters
      // `undefined` (a 503): let the read finish for them instead; its result is not cached.
      ignoreFetchAbort: true,
      fetchMethod: (tenantId, stale, { options }) => this.load(tenantId, stale, options),
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') {
          this.counts.evictions += 1;
          secretEvictions.inc();
        }
      },
    });
  }

  /** The secret name a managed tenant's secret gets. */
  secretName(tenantId: string): string {
    return `${this.config.secretPrefix}/${tenantId}/database`;
  }

  /** The tenant's secret: 404 when the tenant or its secret does not exist, 503 when it cannot be read. */
  async resolve(tenantId: string): Promise<TenantSecret> {
    const status: LRUCache.Status<string, Entry> = {};
    const entry = await this.fetchEntry(tenantId, { status });
    // Only a tenant that exists gets a label of its own: unknown ids must not fill the cap.
    this.count(status.fetch, entry.kind === 'found' ? tenantId : undefined);
    return this.unwrap(tenantId, entry);
  }

  /**
   * Reads the secret again unless it was already re-read after `olderThan` (rotated credentials:
   * many requests failing at once cause one refresh).
   */
  async refresh(tenantId: string, olderThan: number): Promise<TenantSecret> {
    const current = this.cache.peek(tenantId, { allowStale: true });
    const forceRefresh = !(current?.kind === 'found' && current.secret.fetchedAt > olderThan);
    return this.unwrap(tenantId, await this.fetchEntry(tenantId, { forceRefresh }));
  }

  /** Forgets the tenant's secret; lookups already waiting on a read still get its result. */
  invalidate(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  /**
   * Forgets every secret: the next use of each tenant reads Secrets Manager again. Lookups in
   * flight are not failed: they get the read they were waiting for.
   */
  clear(): void {
    this.cache.clear();
  }

  /**
   * Reads and validates a secret by id, without caching (adopting an existing secret). Gives up
   * after TENANT_SECRET_FETCH_TIMEOUT_MS, retries included.
   */
  async readSecretId(tenantId: string, secretId: string): Promise<TenantSecret> {
    const output = await this.aws.secretsManager.send(
      new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
      { abortSignal: AbortSignal.timeout(this.config.secretCache.fetchTimeoutMs) },
    );
    return {
      ...parseTenantSecret(tenantId, secretId, output.SecretString),
      fetchedAt: Date.now(),
      stale: false,
    };
  }

  stats() {
    let negative = 0;
    let stale = 0;
    // dump() includes expired entries (values() skips them), which stale-on-error still serves.
    for (const [, { value: entry }] of this.cache.dump()) {
      if (entry.kind !== 'found') negative += 1;
      else if (entry.secret.stale) stale += 1;
    }
    const lookups = this.counts.hits + this.counts.misses + this.counts.coalesced;
    return {
      hits: this.counts.hits,
      misses: this.counts.misses,
      coalesced: this.counts.coalesced,
      hit_rate: lookups ? Math.round((this.counts.hits / lookups) * 10_000) / 10_000 : null,
      size: this.cache.size,
      max: this.config.secretCache.max,
      ttl_ms: this.config.secretCache.ttlMs,
      evictions: this.counts.evictions,
      negative_entries: negative,
      stale_entries: stale,
      stale_served: this.counts.staleServed,
      fetches: this.counts.fetches,
      fetch_errors: this.counts.fetchErrors,
      fetch_latency_ms: this.latency.quantiles(),
    };
  }

  private async fetchEntry(
    tenantId: string,
    options: LRUCache.FetchOptions<string, Entry, unknown>,
  ): Promise<Entry> {
    try {
      const entry = await this.cache.fetch(tenantId, options);
      if (!entry) throw new Error('the secret cache returned nothing');
      return entry;
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw tenancyError(
        'TENANCY.SECRETS_UNAVAILABLE',
        `The database secret of tenant ${tenantId} cannot be read now; retry later`,
      );
    }
  }

  private unwrap(tenantId: string, entry: Entry): TenantSecret {
    if (entry.kind === 'found') {
      if (entry.secret.stale) this.counts.staleServed += 1;
      return entry.secret;
    }
    if (entry.kind === 'missing') throw tenantNotFound(tenantId);
    throw tenancyError(
      'TENANCY.DATABASE_UNAVAILABLE',
      `The database secret of tenant ${tenantId} is unusable`,
    );
  }

  private async load(
    tenantId: string,
    stale: Entry | undefined,
    options: LRUCache.FetcherFetchOptions<string, Entry>,
  ) {
    const started = performance.now();
    this.counts.fetches += 1;
    let outcome = 'found';
    try {
      const tenant = await this.tenants.findOne({
        where: { id: tenantId },
        select: { id: true, status: true, databaseSecretId: true },
      });
      if (!tenant || tenant.status === 'deleted') {
        outcome = 'missing';
        options.ttl = this.config.secretCache.negativeTtlMs;
        return { kind: 'missing', reason: 'no such tenant' } satisfies Entry;
      }
      const secretId = tenant.databaseSecretId ?? this.secretName(tenantId);
      const secret = await this.readSecretId(tenantId, secretId);
      return { kind: 'found', secret } satisfies Entry;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) {
        outcome = 'missing';
        options.ttl = this.config.secretCache.negativeTtlMs;
        return { kind: 'missing', reason: 'no secret' } satisfies Entry;
      }
      if (error instanceof Error && error.message.startsWith('secret ')) {
        outcome = 'invalid';
        this.logger.error(`Tenant ${tenantId}: ${error.message}`);
        options.ttl = this.config.secretCache.negativeTtlMs;
        return { kind: 'invalid', reason: error.message } satisfies Entry;
      }
      this.counts.fetchErrors += 1;
      const message = error instanceof Error ? error.message : String(error);
      if (stale?.kind === 'found') {
        outcome = 'stale';
        this.logger.warn(
          `Tenant ${tenantId}: secret refresh failed (${message}); serving the cached secret`,
        );
        options.ttl = this.config.secretCache.staleRetryMs;
        return { kind: 'found', secret: { ...stale.secret, stale: true } } satisfies Entry;
      }
      outcome = 'error';
      this.logger.warn(`Tenant ${tenantId}: secret cannot be read (${message})`);
      throw error;
    } finally {
      const ms = performance.now() - started;
      this.latency.add(ms);
      const known = outcome === 'found' || outcome === 'stale';
      secretFetchSeconds.observe(
        { outcome, tenant_id: tenantLabel(known ? tenantId : undefined) },
        ms / 1000,
      );
    }
  }

  private count(result: LRUCache.Status<string, Entry>['fetch'], tenantId?: string): void {
    if (result === 'hit') this.counts.hits += 1;
    else if (result === 'inflight') this.counts.coalesced += 1;
    else this.counts.misses += 1;
    secretLookups.inc({
      result: result === 'hit' ? 'hit' : result === 'inflight' ? 'coalesced' : 'miss',
      tenant_id: tenantLabel(tenantId),
    });
  }
}
