import { FastifyOtelInstrumentation } from '@fastify/otel';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import { TenantSpanProcessor } from './tenant-span-processor';
import { env, envNumber } from './telemetry-env';
import { currentTenant, markTracingEnabled } from './trace-context';

/** Probes and scrapes are not traced: they would drown the traces of real work. */
const UNTRACED_PATHS = /^\/(health|metrics)(\/|\?|$)/;

let sdk: NodeSDK | undefined;

/**
 * Starts the OpenTelemetry SDK (OTLP over HTTP, JSON; `telemetryRequested()` says whether), with
 * the instrumentations of the clients the app uses. Runs before anything else is loaded (see
 * `src/telemetry.ts`): an instrumentation patches a module when it is loaded. HTTP is traced by
 * @fastify/otel alone (one server span per request, named by its route, continuing an incoming
 * traceparent); Node's http instrumentation would add a second span for the same request and
 * cost as much again (the app's outbound calls use undici). With tracing off
 * nothing is started and the app's own helpers are no-ops. Kafka and RabbitMQ are traced by the
 * app's own producers and consumers (src/shared/kafka, src/shared/rabbitmq), not by their
 * instrumentations: the coalescing producer, the batch consumers and the AMQP consumer's buffer
 * would parent each message on whichever request, batch or delivery happened to run it.
 */
export function startTelemetry(): boolean {
  if (sdk) return false;
  const exporter = new BatchSpanProcessor({
    exporter: new OTLPTraceExporter(),
    maxQueueSize: envNumber('OTEL_BSP_MAX_QUEUE_SIZE'),
    maxExportBatchSize: envNumber('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
    scheduledDelayMillis: envNumber('OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: envNumber('OTEL_BSP_EXPORT_TIMEOUT'),
  });
  sdk = new NodeSDK({
    serviceName: env('OTEL_SERVICE_NAME') ? undefined : 'tessera',
    spanProcessors: [new TenantSpanProcessor(exporter, currentTenant)],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        // The request span only: a span per lifecycle hook, or for the handler inside the
        // request, would outnumber the real work (the route is on the request span).
        instrumentHooks: false,
        instrumentHandler: false,
        ignorePaths: ({ url }) => UNTRACED_PATHS.test(url),
        // The server span (it continues an incoming traceparent), named by its route.
        requestHook: (span, request) =>
          span.updateName(`${request.method} ${request.routeOptions.url ?? '(no route)'}`),
      }),
      new UndiciInstrumentation({
        requireParentforSpans: true,
        // A target's query may hold a credential: the span keeps the URL's origin and path only.
        startSpanHook: (request) => ({
          'url.full': `${String(request.origin)}${request.path.split('?')[0]}`,
          'url.query': undefined,
        }),
      }),
      // Background loops (pollers, sweeps) query all the time: only work inside a trace is traced.
      // Queries only (no pool checkout or connect spans), never their values.
      new PgInstrumentation({
        requireParentSpan: true,
        ignoreConnectSpans: true,
        enhancedDatabaseReporting: false,
      }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  const started = sdk;
  markTracingEnabled(() => started.shutdown());
  return true;
}
