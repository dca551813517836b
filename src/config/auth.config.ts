import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { nonNegativeInt, positiveInt } from './env-schemas';

const schema = z.object({
  AUTH_SIGNUP_CONFIRMATION: z
    .enum(['cognito', 'auto'], { error: 'expected cognito or auto' })
    .default('cognito'),
  AUTH_LOGIN_LIMIT_ACCOUNT: positiveInt(10),
  AUTH_LOGIN_LIMIT_IP: positiveInt(100),
  AUTH_LOGIN_LIMIT_WINDOW_SECONDS: positiveInt(300),
  AUTH_REFRESH_TOKEN_DAYS: positiveInt(30),
  AUTH_LAST_SEEN_INTERVAL_SECONDS: positiveInt(60),
  AUTH_SESSION_CACHE_MS: nonNegativeInt(1500),
});

export const authConfig = registerAs('auth', () => {
  const env = parseEnv('auth', schema);
  return {
    /** `cognito`: the pool confirms (e-mailed code, or a pre-sign-up trigger); `auto`: AdminConfirmSignUp at once (development). */
    signupConfirmation: env.AUTH_SIGNUP_CONFIRMATION,
    /** Login and refresh attempts allowed per account and per IP in each window. */
    limitPerAccount: env.AUTH_LOGIN_LIMIT_ACCOUNT,
    limitPerIp: env.AUTH_LOGIN_LIMIT_IP,
    limitWindowSeconds: env.AUTH_LOGIN_LIMIT_WINDOW_SECONDS,
    /** How long the app remembers a refresh token's user (the pool's refresh token validity). */
    refreshTokenDays: env.AUTH_REFRESH_TOKEN_DAYS,
    lastSeenIntervalSeconds: env.AUTH_LAST_SEEN_INTERVAL_SECONDS,
    /**
     * How long a session read from Redis is reused in-process (0 = never). Revocations reach
     * every instance at once through Redis; this bounds staleness when that channel fails.
     */
    sessionCacheMs: env.AUTH_SESSION_CACHE_MS,
  };
});
export type AuthConfig = ReturnType<typeof authConfig>;
