import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { register } from 'prom-client';
import { metricsConfig, type MetricsConfig } from '../../config';
import { commonError, toErrorBody, type AppError } from '../errors';
import { MetricsAccess } from './metrics-access';

/**
 * The metrics port (METRICS_PORT): a second, small listener that serves /metrics and nothing
 * else, so the main port can face the internet while scrapers use an internal one. It opens and
 * closes with the app's HTTP server (a process without one, like a CLI, opens none).
 */
@Injectable()
export class MetricsServer implements OnModuleInit {
  private readonly logger = new Logger(MetricsServer.name);
  private server?: Server;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly access: MetricsAccess,
    @Inject(metricsConfig.KEY) private readonly config: MetricsConfig,
  ) {}

  onModuleInit(): void {
    if (this.access.disabled) {
      this.logger.warn(
        '/metrics is not served: in production set METRICS_PORT or METRICS_TOKEN to scrape it',
      );
    }
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (this.config.port === undefined || !fastify) return;
    fastify.addHook('onReady', () => this.listen(this.config.port!));
    fastify.addHook('onClose', (_instance, done) => {
      if (!this.server) return done();
      this.server.close(() => done());
      this.server.closeAllConnections();
    });
  }

  /** http://host:port of the metrics listener, once it listens. */
  url(): string | undefined {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) return undefined;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((request, response) => void this.serve(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.logger.log({ url: `${this.url()}/metrics` }, 'Metrics listening');
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const path = (request.url ?? '').split('?')[0];
      if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
        return this.refuse(response, commonError('COMMON.NOT_FOUND', 'Not found'));
      }
      const refusal = this.access.refusal('metrics', request.headers.authorization);
      if (refusal) return this.refuse(response, refusal);
      const text = await register.metrics();
      response.writeHead(200, { 'content-type': register.contentType });
      response.end(request.method === 'HEAD' ? undefined : text);
    } catch (error) {
      this.logger.error({ err: error }, 'Metrics scrape failed');
      if (!response.headersSent) response.writeHead(500);
      response.end();
    }
  }

  private refuse(response: ServerResponse, error: AppError): void {
    const { body } = toErrorBody(error);
    response.writeHead(body.statusCode, { ...error.headers, 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }
}
