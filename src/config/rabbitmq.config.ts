import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { ConfigValidationError, parseEnv } from './config.errors';
import { pem, positiveInt, urlWithProtocol } from './env-schemas';

const schema = z.object({
  RABBITMQ_URL: urlWithProtocol(['amqp', 'amqps']).default('amqp://guest:guest@127.0.0.1:5672'),
  RABBITMQ_HEARTBEAT_SECONDS: positiveInt(10),
  // Queue limits are policies, set through the management API (credentials: RABBITMQ_URL's).
  RABBITMQ_MANAGEMENT_URL: urlWithProtocol(['http', 'https']).default('http://127.0.0.1:15672'),
  // Credentials over the URL's, so the password can be a _FILE.
  RABBITMQ_USERNAME: z.string().min(1).optional(),
  RABBITMQ_PASSWORD: z.string().min(1).optional(),
  RABBITMQ_TLS_CA: pem('CERTIFICATE').optional(),
});

export const rabbitmqConfig = registerAs('rabbitmq', () => {
  const env = parseEnv('rabbitmq', schema);
  const url = new URL(env.RABBITMQ_URL);
  if (env.RABBITMQ_USERNAME) url.username = encodeURIComponent(env.RABBITMQ_USERNAME);
  if (env.RABBITMQ_PASSWORD) url.password = encodeURIComponent(env.RABBITMQ_PASSWORD);
  const tls = url.protocol === 'amqps:';
  if (env.RABBITMQ_TLS_CA && !tls)
    throw new ConfigValidationError('rabbitmq', [
      'RABBITMQ_TLS_CA: TLS is chosen by the URL: use amqps:// in RABBITMQ_URL',
    ]);
  return {
    /** With RABBITMQ_USERNAME / RABBITMQ_PASSWORD written in (the management API uses them too). */
    url: url.toString(),
    /** `amqps://`: TLS, verified against RABBITMQ_TLS_CA when set, else the system CAs. */
    tls: tls ? { ca: env.RABBITMQ_TLS_CA } : null,
    heartbeatSeconds: env.RABBITMQ_HEARTBEAT_SECONDS,
    managementUrl: env.RABBITMQ_MANAGEMENT_URL,
  };
});
export type RabbitmqConfig = ReturnType<typeof rabbitmqConfig>;
