import { homedir } from 'node:os';
import { join } from 'node:path';

/** The machine's local CA that scripts/services.sh makes once, and a CA that signed nothing here. */
export const TLS_DIR =
  process.env.TESSERA_TLS_DIR ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tessera', 'tls');
export const CA_FILE = `${TLS_DIR}/ca.pem`;
export const OTHER_CA_FILE = `${TLS_DIR}/other-ca.pem`;

/**
 * Every connection of the app on verified TLS with credentials, against the local services' TLS
 * listeners (scripts/services.sh): the platform database by DATABASE_SSL_MODE and each new
 * tenant's by its secret (TENANT_DATABASE_SSL_*), checked by verify-full against `localhost`;
 * Redis by a rediss:// URL with its ACL user; RabbitMQ by this worker's virtual host on the AMQPS
 * port with the credentials in their own variables; Kafka on its SASL_SSL listener with the
 * SCRAM-SHA-512 user. Derived from this worker's environment.
 */
export function allTlsEnv(env = process.env): Record<string, string> {
  const amqps = new URL(env.RABBITMQ_URL!);
  Object.assign(amqps, { protocol: 'amqps:', hostname: 'localhost', port: '5671' });
  Object.assign(amqps, { username: '', password: '' });
  const database = new URL(env.DATABASE_URL!);
  database.hostname = 'localhost'; // the name in the server certificate, checked by verify-full
  return {
    DATABASE_URL: database.toString(),
    DATABASE_SSL_MODE: 'verify-full',
    DATABASE_SSL_CA_FILE: CA_FILE,
    TENANT_DATABASE_HOST: 'localhost',
    TENANT_DATABASE_SSL_MODE: 'verify-full',
    TENANT_DATABASE_SSL_CA_FILE: CA_FILE,
    REDIS_URL: 'rediss://tessera:tessera-redis-local@localhost:6380',
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
    KAFKA_SASL_PASSWORD: 'tessera-kafka-local',
  };
}
