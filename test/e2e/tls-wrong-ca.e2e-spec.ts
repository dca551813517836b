import { spawnApp, stopApp } from '../support/app-process';
import { allTlsEnv, OTHER_CA_FILE } from '../support/tls';

const REDIS_PASSWORD = 'tessera-redis-local';
const KAFKA_PASSWORD = 'tessera-kafka-local';
/** Each attempt's bound: a start that neither fails nor serves by then is a hang. */
const BOUND_MS = 30_000;

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
      const app = await spawnApp({ ...allTlsEnv(), [`${variable}_FILE`]: OTHER_CA_FILE });
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
