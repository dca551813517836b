import { registerAs } from '@nestjs/config';
import { z } from 'zod';
import { parseEnv } from './config.errors';
import { positiveInt, urlWithProtocol } from './env-schemas';

const schema = z.object({
  AWS_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as us-east-1')
    .default('us-east-1'),
  AWS_ENDPOINT_URL: urlWithProtocol(['http', 'https']).optional(),
  AWS_CONNECT_TIMEOUT_MS: positiveInt(1_000),
  AWS_REQUEST_TIMEOUT_MS: positiveInt(3_000),
});

export const awsConfig = registerAs('aws', () => {
  const env = parseEnv('aws', schema);
  return {
    region: env.AWS_REGION,
    /** Set for the emulator (moto); unset for real AWS. Credentials come from the SDK's default chain. */
    endpoint: env.AWS_ENDPOINT_URL,
    /** Every SDK call: a TCP connect, and then an answer, must come within these (each attempt). */
    connectTimeoutMs: env.AWS_CONNECT_TIMEOUT_MS,
    requestTimeoutMs: env.AWS_REQUEST_TIMEOUT_MS,
  };
});
export type AwsConfig = ReturnType<typeof awsConfig>;
