import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { ConfigValidationError, parseEnv } from './config.errors';
import { booleanFlag, csv, pem, positiveInt } from './env-schemas';

export const SASL_MECHANISMS = [
  'none',
  'plain',
  'scram-sha-256',
  'scram-sha-512',
  'aws-msk-iam',
] as const;
export type KafkaSaslMechanism = (typeof SASL_MECHANISMS)[number];

const schema = z.object({
  KAFKA_BROKERS: csv('expected a comma-separated list of host:port')
    .default(['127.0.0.1:9092'])
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port')).min(1)),
  KAFKA_CLIENT_ID: z.string().min(1).default('tessera'),
  KAFKA_TOPIC_PARTITIONS: positiveInt(3),
  KAFKA_REPLICATION_FACTOR: positiveInt(1),
  KAFKA_SSL: booleanFlag(false),
  KAFKA_SSL_CA: pem('CERTIFICATE').optional(),
  KAFKA_SSL_CERT: pem('CERTIFICATE').optional(),
  KAFKA_SSL_KEY: pem('PRIVATE KEY').optional(),
  KAFKA_SASL_MECHANISM: z
    .enum(SASL_MECHANISMS, {
      error: `expected ${SASL_MECHANISMS.join(', ')}`,
    })
    .default('none'),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  // A member that stops heartbeating (a crashed process) is evicted after the session timeout;
  // until then its group cannot rebalance. The broker accepts 6 s to 30 min by default.
  KAFKA_CONSUMER_SESSION_TIMEOUT_MS: positiveInt(10_000),
  KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: positiveInt(3_000),
  KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS: positiveInt(10_000),
});

type Env = z.output<typeof schema>;

/** What the settings cannot say one by one: pairs that go together, SASL that needs TLS. */
function crossChecks(env: Env): string[] {
  const problems: string[] = [];
  if (!env.KAFKA_SSL_CERT !== !env.KAFKA_SSL_KEY)
    problems.push('KAFKA_SSL_CERT and KAFKA_SSL_KEY: set both (a client certificate) or neither');
  if ((env.KAFKA_SSL_CA || env.KAFKA_SSL_CERT) && !env.KAFKA_SSL)
    problems.push('KAFKA_SSL: set it to true to use KAFKA_SSL_CA / KAFKA_SSL_CERT');
  const needsPassword = ['plain', 'scram-sha-256', 'scram-sha-512'].includes(
    env.KAFKA_SASL_MECHANISM,
  );
  if (needsPassword && !(env.KAFKA_SASL_USERNAME && env.KAFKA_SASL_PASSWORD))
    problems.push(
      `KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM=${env.KAFKA_SASL_MECHANISM}`,
    );
  if (env.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS * 3 > env.KAFKA_CONSUMER_SESSION_TIMEOUT_MS)
    problems.push(
      'KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: at most a third of KAFKA_CONSUMER_SESSION_TIMEOUT_MS',
    );
  if (env.KAFKA_SASL_MECHANISM === 'aws-msk-iam' && !env.KAFKA_SSL)
    problems.push('KAFKA_SSL: AWS MSK IAM authentication needs TLS (KAFKA_SSL=true)');
  return problems;
}

export const kafkaConfig = registerAs('kafka', () => {
  const env = parseEnv('kafka', schema);
  const problems = crossChecks(env);
  if (problems.length) throw new ConfigValidationError('kafka', problems);
  return {
    brokers: env.KAFKA_BROKERS,
    clientId: env.KAFKA_CLIENT_ID,
    topicPartitions: env.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: env.KAFKA_REPLICATION_FACTOR,
    /** TLS to the brokers; a CA bundle (PEM) for a private CA, a client certificate for mTLS. */
    ssl: env.KAFKA_SSL
      ? { ca: env.KAFKA_SSL_CA, cert: env.KAFKA_SSL_CERT, key: env.KAFKA_SSL_KEY }
      : null,
    sasl: {
      mechanism: env.KAFKA_SASL_MECHANISM,
      username: env.KAFKA_SASL_USERNAME,
      password: env.KAFKA_SASL_PASSWORD,
    },
    /** Every consumer group's timings (kafkajs `sessionTimeout`, `heartbeatInterval`, `rebalanceTimeout`). */
    consumer: {
      sessionTimeoutMs: env.KAFKA_CONSUMER_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: env.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS,
      rebalanceTimeoutMs: env.KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS,
    },
  };
});
export type KafkaConfig = ReturnType<typeof kafkaConfig>;
