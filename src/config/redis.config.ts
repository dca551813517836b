import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { positiveInt, urlWithProtocol } from './env-schemas';

const schema = z.object({
  REDIS_URL: urlWithProtocol(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().default('tessera:'),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt(2_000),
});

export const redisConfig = registerAs('redis', () => {
  const env = parseEnv('redis', schema);
  return {
    url: env.REDIS_URL,
    keyPrefix: env.REDIS_KEY_PREFIX,
    /** A command not answered within this fails (a mute Redis is a fast 503, not a hang). */
    commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
  };
});
export type RedisConfig = ReturnType<typeof redisConfig>;
