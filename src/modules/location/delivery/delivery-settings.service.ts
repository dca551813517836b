import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { locationConfig, type LocationConfig } from '../../../config';
import { OutboundHttp } from '../../../shared/outbound';
import { TenantAuditTrail, urlOrigin } from '../../tenancy';
import type { DeliveryView } from './delivery.dto';
import { locationError } from '../location.errors';

export interface DeliveryTarget {
  url: string;
  secret: string | null;
  source: 'tenant' | 'operator';
  /** Updates per POST at most and the wait for more; null: one update per POST. */
  batch: { maxItems: number; lingerMs: number } | null;
}

interface SettingsRow {
  endpoint_url: string | null;
  enabled: boolean;
  signing_secret: string | null;
  batch_max_items: number | null;
  batch_linger_ms: number;
}

const COLUMNS = 'endpoint_url, enabled, signing_secret, batch_max_items, batch_linger_ms';

/**
 * Where a tenant's updates are delivered: its own URL (SSRF-checked when set, and again at
 * connect time by OutboundHttp), else the operator's THIRD_PARTY_ENDPOINT (the operator's own
 * choice: trusted, not SSRF-checked). Targets are cached for 5 s per instance, so a change
 * reaches every streamer within 5 s.
 */
@Injectable()
export class DeliverySettingsService {
  private readonly cache = new Map<string, { target: DeliveryTarget | null; until: number }>();
  /** Reads in progress: every delivery of a tenant whose entry expired waits for one read. */
  private readonly reading = new Map<string, Promise<DeliveryTarget | null>>();

  constructor(
    private readonly db: DataSource,
    private readonly outbound: OutboundHttp,
    @Inject(locationConfig.KEY) private readonly config: LocationConfig,
    private readonly audit: TenantAuditTrail,
  ) {}

  async view(tenantId: string): Promise<DeliveryView> {
    return this.toView(await this.row(tenantId));
  }

  async put(
    tenantId: string,
    body: {
      endpoint_url: string | null;
      enabled?: boolean;
      rotate_signing_secret?: boolean;
      batch?: { max_items: number; linger_ms: number } | null;
    },
  ): Promise<DeliveryView> {
    if (body.endpoint_url === null && body.rotate_signing_secret) {
      // The operator's endpoint is signed with the operator's secret: a tenant secret without a
      // tenant endpoint would be shown and never used.
      throw locationError(
        'LOCATION.SIGNING_NEEDS_ENDPOINT',
        'rotate_signing_secret needs an endpoint_url of your own: deliveries to the operator endpoint are signed with the operator secret',
        [{ field: 'rotate_signing_secret', message: 'set endpoint_url in the same request' }],
      );
    }
    if (body.endpoint_url === null && body.batch) {
      // The operator's endpoint takes what the operator set (THIRD_PARTY_BATCH_*).
      throw locationError(
        'LOCATION.BATCH_NEEDS_ENDPOINT',
        "batch needs an endpoint_url of your own: the operator endpoint's format is the operator's",
        [{ field: 'batch', message: 'set endpoint_url in the same request' }],
      );
    }
    if (body.endpoint_url !== null) await this.outbound.assertAllowedUrl(body.endpoint_url);
    const current = await this.row(tenantId);
    const fresh =
      body.rotate_signing_secret || (!current?.signing_secret && body.endpoint_url !== null)
        ? `whsec_${randomBytes(24).toString('base64url')}`
        : null;
    // Absent: unchanged, except that the operator's endpoint never takes a tenant's batching.
    const batch =
      body.endpoint_url === null
        ? null
        : body.batch === undefined
          ? current?.endpoint_url
            ? { max_items: current.batch_max_items, linger_ms: current.batch_linger_ms }
            : null
          : body.batch;
    const [row] = await this.db.query<SettingsRow[]>(
      `insert into location_delivery_settings
         (tenant_id, endpoint_url, enabled, signing_secret, batch_max_items, batch_linger_ms, updated_at)
       values ($1, $2, coalesce($3, true), $4, $5, $6, now())
       on conflict (tenant_id) do update
         set endpoint_url = excluded.endpoint_url,
             enabled = coalesce($3, location_delivery_settings.enabled),
             signing_secret = coalesce($4, location_delivery_settings.signing_secret),
             batch_max_items = excluded.batch_max_items,
             batch_linger_ms = excluded.batch_linger_ms,
             updated_at = now()
       returning ${COLUMNS}`,
      [
        tenantId,
        body.endpoint_url,
        body.enabled ?? null,
        fresh,
        batch?.max_items ?? null,
        batch?.max_items ? batch.linger_ms : 0,
      ],
    );
    this.cache.delete(tenantId);
    this.reading.delete(tenantId);
    // The target's origin only: a path or query may carry the receiver's own credentials.
    await this.audit.record(tenantId, 'delivery.target_changed', {
      endpoint: urlOrigin(row.endpoint_url),
      enabled: row.enabled,
      signing_secret_rotated: fresh !== null,
      batch_max_items: row.batch_max_items,
    });
    return { ...this.toView(row), ...(fresh ? { signing_secret: fresh } : {}) };
  }

  /**
   * The target of a tenant's deliveries, or null when it has none (or turned delivery off). When
   * the cached entry expires, the deliveries in flight for the tenant (up to the streamer's
   * concurrency) share one read instead of each taking a pool connection at once.
   */
  target(tenantId: string): Promise<DeliveryTarget | null> {
    const hit = this.cache.get(tenantId);
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.target);
    const pending = this.reading.get(tenantId);
    if (pending) return pending;
    const read: Promise<DeliveryTarget | null> = this.readTarget(
      tenantId,
      () => this.reading.get(tenantId) === read,
    ).finally(() => {
      if (this.reading.get(tenantId) === read) this.reading.delete(tenantId);
    });
    this.reading.set(tenantId, read);
    return read;
  }

  /** `current()` is false once a `put` replaced this read: its answer is not cached then. */
  private async readTarget(
    tenantId: string,
    current: () => boolean,
  ): Promise<DeliveryTarget | null> {
    const row = await this.row(tenantId);
    let target: DeliveryTarget | null;
    if (row && !row.enabled) target = null;
    else if (row?.endpoint_url) {
      target = {
        url: row.endpoint_url,
        secret: row.signing_secret,
        source: 'tenant',
        batch: row.batch_max_items
          ? { maxItems: row.batch_max_items, lingerMs: row.batch_linger_ms }
          : null,
      };
    } else if (this.config.thirdPartyEndpoint) {
      target = {
        url: this.config.thirdPartyEndpoint,
        secret: this.config.thirdPartySigningSecret,
        source: 'operator',
        batch: this.config.thirdPartyBatch,
      };
    } else target = null;
    if (!current()) return target;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(tenantId, { target, until: Date.now() + 5_000 });
    return target;
  }

  private async row(tenantId: string): Promise<SettingsRow | null> {
    const [row] = await this.db.query<SettingsRow[]>(
      `select ${COLUMNS} from location_delivery_settings where tenant_id = $1`,
      [tenantId],
    );
    return row ?? null;
  }

  private toView(row: SettingsRow | null): DeliveryView {
    if (row?.endpoint_url) {
      return {
        endpoint_url: row.endpoint_url,
        enabled: row.enabled,
        signing: Boolean(row.signing_secret),
        source: 'tenant',
        batch: row.batch_max_items
          ? { max_items: row.batch_max_items, linger_ms: row.batch_linger_ms }
          : null,
      };
    }
    const operatorBatch = this.config.thirdPartyBatch;
    return {
      endpoint_url: this.config.thirdPartyEndpoint,
      enabled: row?.enabled ?? true,
      signing: Boolean(this.config.thirdPartySigningSecret),
      source: 'operator',
      batch: operatorBatch
        ? { max_items: operatorBatch.maxItems, linger_ms: operatorBatch.lingerMs }
        : null,
    };
  }
}
