import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { ConfigValidationError, parseEnv } from './config.errors';
import { pem, positiveInt, urlWithProtocol } from './env-schemas';

const schema = z.object({
  REDIS_URL: urlWithProtocol(['redis', 'rediss']).default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().default('tessera:'),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt(2_000),
  // An ACL user and password instead of (or over) the URL's, so the password can be a _FILE.
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS_CA: pem('CERTIFICATE').optional(),
});

export const redisConfig = registerAs('redis', () => {
  const env = parseEnv('redis', schema);
  const tls = new URL(env.REDIS_URL).protocol === 'rediss:';
  if (env.REDIS_TLS_CA && !tls)
    throw new ConfigValidationError('redis', [
      'REDIS_TLS_CA: TLS is chosen by the URL: use rediss:// in REDIS_URL',
    ]);
  return {
    url: env.REDIS_URL,
    keyPrefix: env.REDIS_KEY_PREFIX,
    /** A command not answered within this fails (a mute Redis is a fast 503, not a hang). */
    commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
    username: env.REDIS_USERNAME,
    password: env.REDIS_PASSWORD,
    /** `rediss://`: TLS, verified against REDIS_TLS_CA when set, else the system CAs. */
    tls: tls ? { ca: env.REDIS_TLS_CA } : null,
  };
});
export type RedisConfig = ReturnType<typeof redisConfig>;
