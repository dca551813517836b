import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { urlWithProtocol } from './env-schemas';

const schema = z.object({
  REDIS_URL: urlWithProtocol(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().default('tessera:'),
});

export const redisConfig = registerAs('redis', () => {
  const env = parseEnv('redis', schema);
  return { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX };
});
export type RedisConfig = ReturnType<typeof redisConfig>;
