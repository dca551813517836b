import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { csv, positiveInt } from './env-schemas';

const schema = z.object({
  KAFKA_BROKERS: csv('expected a comma-separated list of host:port')
    .default(['127.0.0.1:9092'])
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port')).min(1)),
  KAFKA_CLIENT_ID: z.string().min(1).default('tessera'),
  KAFKA_TOPIC_PARTITIONS: positiveInt(3),
  KAFKA_REPLICATION_FACTOR: positiveInt(1),
});

export const kafkaConfig = registerAs('kafka', () => {
  const env = parseEnv('kafka', schema);
  return {
    brokers: env.KAFKA_BROKERS,
    clientId: env.KAFKA_CLIENT_ID,
    topicPartitions: env.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: env.KAFKA_REPLICATION_FACTOR,
  };
});
export type KafkaConfig = ReturnType<typeof kafkaConfig>;
