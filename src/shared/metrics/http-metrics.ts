import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { ClsServiceManager } from 'nestjs-cls';
import { metricsConfig, type MetricsConfig } from '../../config';
import type { TenantContextStore } from '../tenant-context';
import { counter, histogram } from './metrics';
import { configureTenantSeries, NO_TENANT, tenantLabel } from './tenant-series';

const httpDuration = histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration by method, route template and status code',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
});

/** Requests by tenant: the per-tenant rate and errors, without multiplying the route histogram. */
const tenantRequests = counter({
  name: 'tessera_http_requests_total',
  help: 'HTTP requests by tenant (tenant_id: bounded by METRICS_TENANT_SERIES_MAX; none without one) and status class',
  labelNames: ['tenant_id', 'status_class'] as const,
});

/**
 * The tenant a request worked for, when it is known to exist: an API key's or a member's; a
 * platform admin's X-Tenant-ID only once answered below 400 (an unknown id must not take a place).
 */
function requestTenant(status: number): string {
  const cls = ClsServiceManager.getClsService();
  if (!cls.isActive()) return NO_TENANT;
  const principal = cls.get<TenantContextStore['principal']>('principal');
  if (!principal?.tenantId || (principal.isPlatformAdmin && status >= 400)) return NO_TENANT;
  return tenantLabel(principal.tenantId);
}

/**
 * Times every HTTP request, 404s and 413s included, labelled by route template, and counts it
 * for its tenant. Sets the process's cap of tenant series (METRICS_TENANT_SERIES_MAX).
 */
@Injectable()
export class HttpMetrics implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(metricsConfig.KEY) config: MetricsConfig,
  ) {
    configureTenantSeries(config.tenantSeriesMax);
  }

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onResponse', (request, reply, done) => {
      httpDuration.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status_code: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
      tenantRequests.inc({
        tenant_id: requestTenant(reply.statusCode),
        status_class: `${Math.floor(reply.statusCode / 100)}xx`,
      });
      done();
    });
  }
}
