import { Inject, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { appConfig, type AppConfig, metricsConfig, type MetricsConfig } from '../../config';
import { AppError, commonError } from '../errors';

/** Which listener a scrape arrived on: the app's port, or the metrics port of its own. */
export type MetricsListener = 'main' | 'metrics';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Who may read /metrics, which names every tenant and queue:
 * - with METRICS_PORT, only that port serves it (the main port answers 404);
 * - with METRICS_TOKEN (or _FILE), only a request with `Authorization: Bearer <token>`;
 * - with neither, the main port serves it to anyone outside production, and to no one in it.
 */
@Injectable()
export class MetricsAccess {
  private readonly token?: Buffer;

  constructor(
    @Inject(metricsConfig.KEY) private readonly config: MetricsConfig,
    @Inject(appConfig.KEY) private readonly app: AppConfig,
  ) {
    if (config.token) this.token = digest(config.token);
  }

  /** Served nowhere: production without a port or a token. */
  get disabled(): boolean {
    return this.app.env === 'production' && this.config.port === undefined && !this.token;
  }

  /** Why this scrape is refused (an error to answer with), or undefined when it may read. */
  refusal(listener: MetricsListener, authorization: string | undefined): AppError | undefined {
    if (listener === 'main' && (this.config.port !== undefined || this.disabled)) {
      return commonError('COMMON.NOT_FOUND', 'Not found');
    }
    if (this.token && !this.tokenMatches(authorization)) {
      return commonError(
        'COMMON.UNAUTHENTICATED',
        'A valid metrics token is required (Authorization: Bearer <token>)',
      ).withHeaders({ 'WWW-Authenticate': 'Bearer realm="metrics"' });
    }
    return undefined;
  }

  /** Compares digests of equal length in constant time: neither the token nor its length leaks. */
  private tokenMatches(authorization: string | undefined): boolean {
    const given = BEARER.exec(authorization ?? '')?.[1];
    return given !== undefined && timingSafeEqual(digest(given), this.token!);
  }
}
