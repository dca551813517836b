import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { positiveInt, urlWithProtocol } from './env-schemas';

const schema = z.object({
  RABBITMQ_URL: urlWithProtocol(['amqp', 'amqps']).default('amqp://guest:guest@127.0.0.1:5672'),
  RABBITMQ_HEARTBEAT_SECONDS: positiveInt(10),
  // Queue limits are policies, set through the management API (credentials: RABBITMQ_URL's).
  RABBITMQ_MANAGEMENT_URL: urlWithProtocol(['http', 'https']).default('http://127.0.0.1:15672'),
});

export const rabbitmqConfig = registerAs('rabbitmq', () => {
  const env = parseEnv('rabbitmq', schema);
  return {
    url: env.RABBITMQ_URL,
    heartbeatSeconds: env.RABBITMQ_HEARTBEAT_SECONDS,
    managementUrl: env.RABBITMQ_MANAGEMENT_URL,
  };
});
export type RabbitmqConfig = ReturnType<typeof rabbitmqConfig>;
