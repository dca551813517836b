import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { positiveInt, urlWithProtocol } from './env-schemas';

const schema = z.object({
  RABBITMQ_URL: urlWithProtocol(['amqp', 'amqps']).default('amqp://guest:guest@127.0.0.1:5672'),
  RABBITMQ_HEARTBEAT_SECONDS: positiveInt(10),
});

export const rabbitmqConfig = registerAs('rabbitmq', () => {
  const env = parseEnv('rabbitmq', schema);
  return { url: env.RABBITMQ_URL, heartbeatSeconds: env.RABBITMQ_HEARTBEAT_SECONDS };
});
export type RabbitmqConfig = ReturnType<typeof rabbitmqConfig>;
