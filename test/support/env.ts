import { loadLocalEnv } from '../../src/config/load-env';

/** e2e runs against the real services, in their test databases. */
export function applyTestEnv(): void {
  process.env.NODE_ENV = 'test';
  // The test client stands in for a trusted proxy: X-Forwarded-For picks the client address.
  process.env.TRUST_PROXY ??= '127.0.0.1';
  process.env.LOG_LEVEL ??= 'warn';
  process.env.DATABASE_URL ??= 'postgres://tessera_app:tessera_app@127.0.0.1:5432/tessera_test';
  process.env.DATABASE_MIGRATION_URL ??=
    'postgres://tessera_owner:tessera_owner@127.0.0.1:5432/tessera_test';
  process.env.AWS_ENDPOINT_URL ??= 'http://127.0.0.1:4566';
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  process.env.TENANT_SECRET_PREFIX ??= 'tessera-test/tenants';
  process.env.TENANT_DATABASE_NAME ??= 'tessera_tenants_test';
  process.env.REDIS_KEY_PREFIX ??= 'tessera-test:';
  process.env.RABBITMQ_URL ??= 'amqp://guest:guest@127.0.0.1:5672';
  process.env.LOCATION_TOPIC ??= 'location.updates.test';
  process.env.LOCATION_DLQ_TOPIC ??= 'location.updates.dlq.test';
  process.env.LOCATION_GROUP_PREFIX ??= 'tessera-location-test';
  // Every test logs in from 127.0.0.1: the per-IP limit is tested with its own app.
  process.env.AUTH_LOGIN_LIMIT_IP ??= '100000';
  // A test database holds the tenants of many suites: each keeps its own tenant_id series.
  process.env.METRICS_TENANT_SERIES_MAX ??= '10000';
  loadLocalEnv();
}

/**
 * What one parallel Jest worker owns, so that workers never see each other's data: its own
 * platform and tenant databases, Secrets Manager prefix, Redis key prefix, RabbitMQ vhost and
 * Kafka topics and consumer groups. Derived from the run's base settings and the worker id.
 */
export interface WorkerNamespace {
  databaseUrl: string;
  databaseMigrationUrl: string;
  tenantDatabaseName: string;
  secretPrefix: string;
  redisKeyPrefix: string;
  rabbitmqUrl: string;
  vhost: string;
  locationTopic: string;
  locationDlqTopic: string;
  locationGroupPrefix: string;
}

export function workerNamespace(worker: string, env = process.env): WorkerNamespace {
  const suffix = `w${worker}`;
  const database = (url: string) => {
    const parsed = new URL(url);
    parsed.pathname = `${parsed.pathname}_${suffix}`;
    return parsed.toString();
  };
  const rabbit = new URL(env.RABBITMQ_URL!);
  const baseVhost = decodeURIComponent(rabbit.pathname.slice(1)) || 'tessera-test';
  const vhost = `${baseVhost}-${suffix}`;
  rabbit.pathname = `/${encodeURIComponent(vhost)}`;
  return {
    databaseUrl: database(env.DATABASE_URL!),
    databaseMigrationUrl: database(env.DATABASE_MIGRATION_URL!),
    tenantDatabaseName: `${env.TENANT_DATABASE_NAME}_${suffix}`,
    secretPrefix: `${env.TENANT_SECRET_PREFIX}-${suffix}`,
    redisKeyPrefix: `${env.REDIS_KEY_PREFIX}${suffix}:`,
    rabbitmqUrl: rabbit.toString(),
    vhost,
    locationTopic: `${env.LOCATION_TOPIC}.${suffix}`,
    locationDlqTopic: `${env.LOCATION_DLQ_TOPIC}.${suffix}`,
    locationGroupPrefix: `${env.LOCATION_GROUP_PREFIX}-${suffix}`,
  };
}

/** How many isolated worker namespaces this run prepared (TESSERA_TEST_WORKERS), if any. */
export function testWorkers(): number {
  return Number(process.env.TESSERA_TEST_WORKERS ?? 0);
}

/** In a parallel run, points this worker at its own namespace (once per process). */
function applyWorkerNamespace(): void {
  const worker = process.env.JEST_WORKER_ID;
  if (!testWorkers() || !worker || process.env.TESSERA_TEST_WORKER) return;
  const ns = workerNamespace(worker);
  Object.assign(process.env, {
    DATABASE_URL: ns.databaseUrl,
    DATABASE_MIGRATION_URL: ns.databaseMigrationUrl,
    TENANT_DATABASE_NAME: ns.tenantDatabaseName,
    TENANT_SECRET_PREFIX: ns.secretPrefix,
    REDIS_KEY_PREFIX: ns.redisKeyPrefix,
    RABBITMQ_URL: ns.rabbitmqUrl,
    LOCATION_TOPIC: ns.locationTopic,
    LOCATION_DLQ_TOPIC: ns.locationDlqTopic,
    LOCATION_GROUP_PREFIX: ns.locationGroupPrefix,
    TESSERA_TEST_WORKER: worker,
  });
}

applyTestEnv();
applyWorkerNamespace();

/** Short retry delays for the messaging suites that wait for retries (MESSAGING_RETRY_DELAYS_MS). */
export const SUITE_RETRY_DELAYS_MS = '200,400';
