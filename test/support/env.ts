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
  // Every test logs in from 127.0.0.1: the per-IP limit is tested with its own app.
  process.env.AUTH_LOGIN_LIMIT_IP ??= '100000';
  loadLocalEnv();
}

applyTestEnv();

/** Short retry delays for the messaging suites that wait for retries (MESSAGING_RETRY_DELAYS_MS). */
export const SUITE_RETRY_DELAYS_MS = '200,400';
