import { homedir } from 'node:os';
import { join } from 'node:path';
import { spawnApp, stopApp } from '../support/app-process';

// The machine's local CA scripts/services.sh makes, and a CA that signed nothing here.
const TLS_DIR =
  process.env.TESSERA_TLS_DIR ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tessera', 'tls');
const CA_FILE = `${TLS_DIR}/ca.pem`;
const OTHER_CA_FILE = `${TLS_DIR}/other-ca.pem`;

const REDIS_PASSWORD = 'tessera-redis-local';
const KAFKA_PASSWORD = 'tessera-kafka-local';
/** Each attempt's bound: a start that neither fails nor serves by then is a hang. */
const BOUND_MS = 30_000;

/** Every connection on TLS against the local CA, as in the TLS suite (credentials included). */
function allTls(): Record<string, string> {
  const amqps = new URL(process.env.RABBITMQ_URL!);
  Object.assign(amqps, { protocol: 'amqps:', hostname: 'localhost', port: '5671' });
  Object.assign(amqps, { username: '', password: '' });
  const database = new URL(process.env.DATABASE_URL!);
  database.hostname = 'localhost'; // the name in the server certificate, checked by verify-full
  return {
    DATABASE_URL: database.toString(),
    DATABASE_SSL_MODE: 'verify-full',
    DATABASE_SSL_CA_FILE: CA_FILE,
    TENANT_DATABASE_HOST: 'localhost',
    TENANT_DATABASE_SSL_MODE: 'verify-full',
    TENANT_DATABASE_SSL_CA_FILE: CA_FILE,
    REDIS_URL: `rediss://tessera:${REDIS_PASSWORD}@localhost:6380`,
    REDIS_TLS_CA_FILE: CA_FILE,
    RABBITMQ_URL: amqps.toString(),
    RABBITMQ_USERNAME: 'guest',
    RABBITMQ_PASSWORD: 'guest',
    RABBITMQ_TLS_CA_FILE: CA_FILE,
    KAFKA_BROKERS: 'localhost:9094',
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: CA_FILE,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: 'tessera',
    KAFKA_SASL_PASSWORD: KAFKA_PASSWORD,
  };
}

/**
 * The real app (src/main.ts) whose CA for one service is a CA that signed nothing these
 * services use: the start fails at once with one line naming the service, the certificate
 * failure and the variable to fix, and exit 1; never a hang, never a stack trace.
 */
describe('Start-up against a service whose certificate the configured CA did not sign', () => {
  const cases = [
    { service: 'PostgreSQL', variable: 'DATABASE_SSL_CA', host: 'localhost:5432' },
    { service: 'Redis', variable: 'REDIS_TLS_CA', host: 'localhost:6380' },
    { service: 'RabbitMQ', variable: 'RABBITMQ_TLS_CA', host: 'localhost:5671' },
    { service: 'Kafka', variable: 'KAFKA_SSL_CA', host: 'localhost:9094' },
  ];

  it.each(cases)(
    'a wrong $variable stops the start with exit 1 and one line naming $service',
    async ({ service, variable, host }) => {
      const started = performance.now();
      const app = await spawnApp({ ...allTls(), [`${variable}_FILE`]: OTHER_CA_FILE });
      let stderr = '';
      app.process.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const bound = setTimeout(() => void stopApp(app, 1_000), BOUND_MS);
      const code = await app.exited;
      clearTimeout(bound);
      const tookMs = Math.round(performance.now() - started);
      const line = stderr.split('\n').find((l) => l.startsWith('Start-up failed:')) ?? '';
      console.log(
        `wrong ${variable}: exit ${code} after ${tookMs} ms: ${line || `(no line) ${app.output().slice(-2000)}`}`,
      );

      expect(code).toBe(1);
      expect(line).toContain(`${service} at ${host}: TLS certificate not accepted`);
      expect(line).toMatch(/\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE): /);
      expect(line).toContain(`check ${variable}`);
      // No stack trace and no secret on stderr (the whole output, logs included, holds no password).
      expect(stderr).not.toMatch(/^\s+at /m);
      for (const secret of [REDIS_PASSWORD, KAFKA_PASSWORD, 'tessera_app@'])
        expect(app.output()).not.toContain(secret);
    },
    BOUND_MS + 15_000,
  );
});
