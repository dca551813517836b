import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { positiveInt, urlWithProtocol } from './env-schemas';

const POOL_ID = /^(?<region>[a-z]{2}(-[a-z]+)+-\d)_[a-zA-Z0-9]+$/;

const schema = z.object({
  COGNITO_USER_POOL_ID: z
    .string({ error: 'set the Cognito user pool id' })
    .regex(POOL_ID, 'expected a pool id such as us-east-1_AbC123'),
  COGNITO_CLIENT_ID: z.string({ error: 'set the Cognito app client id' }).min(1),
  COGNITO_CLIENT_SECRET: z.string().min(1).optional(),
  COGNITO_JWKS_URL: urlWithProtocol(['http', 'https']).optional(),
  COGNITO_JWKS_REFETCH_SECONDS: positiveInt(30),
  AWS_ENDPOINT_URL: urlWithProtocol(['http', 'https']).optional(),
});

export const cognitoConfig = registerAs('cognito', () => {
  const env = parseEnv('cognito', schema);
  const region = POOL_ID.exec(env.COGNITO_USER_POOL_ID)!.groups!.region;
  const issuer = `https://cognito-idp.${region}.amazonaws.com/${env.COGNITO_USER_POOL_ID}`;
  // The emulator serves the keys at <endpoint>/<poolId>/.well-known/jwks.json while its tokens
  // keep the real issuer: only the key fetch is redirected, never the issuer check.
  const emulatorJwks = env.AWS_ENDPOINT_URL
    ? `${env.AWS_ENDPOINT_URL.replace(/\/$/, '')}/${env.COGNITO_USER_POOL_ID}/.well-known/jwks.json`
    : undefined;
  return {
    userPoolId: env.COGNITO_USER_POOL_ID,
    clientId: env.COGNITO_CLIENT_ID,
    /** Set when the app client has a secret: every call then carries SECRET_HASH. */
    clientSecret: env.COGNITO_CLIENT_SECRET,
    issuer,
    jwksUrl: env.COGNITO_JWKS_URL ?? emulatorJwks ?? `${issuer}/.well-known/jwks.json`,
    /** An unknown `kid` refetches the JWKS at most once per this interval. */
    jwksRefetchSeconds: env.COGNITO_JWKS_REFETCH_SECONDS,
  };
});
export type CognitoConfig = ReturnType<typeof cognitoConfig>;
