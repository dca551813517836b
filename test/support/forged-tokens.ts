import {
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  InitiateAuthCommand,
  ListUserPoolClientsCommand,
  ListUserPoolsCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cognito, PASSWORD } from './identities';

/** Tokens for the negative matrix: other pools and clients (moto), and hand-made JWTs. */

const b64url = (value: Buffer | string) => Buffer.from(value).toString('base64url');
export const decodePart = (token: string, index: 0 | 1) =>
  JSON.parse(Buffer.from(token.split('.')[index], 'base64url').toString()) as Record<
    string,
    unknown
  >;

export function encodeJwt(header: object, payload: object, signature = ''): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${signature}`;
}

interface RsaJwk {
  kid: string;
  n: string;
  e: string;
  d: string;
}

/**
 * moto signs every pool's tokens with one published test key (kid "dummy"); signing with it
 * yields tokens whose signature verifies, so only the claim under test makes them invalid.
 */
export function motoKey(): RsaJwk {
  const dir = execFileSync('python3', [
    '-c',
    'import moto.cognitoidp, os; print(os.path.dirname(moto.cognitoidp.__file__))',
  ])
    .toString()
    .trim();
  return JSON.parse(
    gunzipSync(readFileSync(join(dir, 'resources', 'jwks-private.json.gz'))).toString(),
  ) as RsaJwk;
}

const bigint = (b64: string) => BigInt(`0x${Buffer.from(b64, 'base64url').toString('hex')}`);

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  base %= modulus;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % modulus;
    base = (base * base) % modulus;
    exponent >>= 1n;
  }
  return result;
}

/** RS256 (RSASSA-PKCS1-v1_5 with SHA-256) from n and d alone: moto's key has no CRT parameters. */
export function signRs256(header: object, payload: object, key: RsaJwk): string {
  const unsigned = encodeJwt(header, payload).slice(0, -1);
  const n = bigint(key.n);
  const size = Buffer.from(key.n, 'base64url').length;
  const digestInfo = Buffer.concat([
    Buffer.from('3031300d060960864801650304020105000420', 'hex'),
    createHash('sha256').update(unsigned).digest(),
  ]);
  const padded = Buffer.concat([
    Buffer.from([0, 1]),
    Buffer.alloc(size - digestInfo.length - 3, 0xff),
    Buffer.from([0]),
    digestInfo,
  ]);
  const signature = modPow(BigInt(`0x${padded.toString('hex')}`), bigint(key.d), n)
    .toString(16)
    .padStart(size * 2, '0');
  return `${unsigned}.${b64url(Buffer.from(signature, 'hex'))}`;
}

/** Signed with a key the pool never published. */
export function signWithRogueKey(header: object, payload: object): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const unsigned = encodeJwt(header, payload).slice(0, -1);
  return `${unsigned}.${b64url(sign('sha256', Buffer.from(unsigned), privateKey))}`;
}

/** The classic confusion attack: HS256 with the RSA public key (PEM) as the HMAC secret. */
export function signHs256WithPublicKey(header: object, payload: object, key: RsaJwk): string {
  const pem = createPublicKey({ key: { kty: 'RSA', n: key.n, e: key.e }, format: 'jwk' })
    .export({ format: 'pem', type: 'spki' })
    .toString();
  const unsigned = encodeJwt({ ...header, alg: 'HS256' }, payload).slice(0, -1);
  return `${unsigned}.${b64url(createHmac('sha256', pem).update(unsigned).digest())}`;
}

async function findOrCreatePool(name: string): Promise<string> {
  const idp = cognito();
  try {
    const pools = await idp.send(new ListUserPoolsCommand({ MaxResults: 60 }));
    const found = pools.UserPools?.find((p) => p.Name === name)?.Id;
    if (found) return found;
    const created = await idp.send(new CreateUserPoolCommand({ PoolName: name }));
    return created.UserPool!.Id!;
  } finally {
    idp.destroy();
  }
}

async function findOrCreateClient(poolId: string, name: string): Promise<string> {
  const idp = cognito();
  try {
    const clients = await idp.send(
      new ListUserPoolClientsCommand({ UserPoolId: poolId, MaxResults: 60 }),
    );
    const found = clients.UserPoolClients?.find((c) => c.ClientName === name)?.ClientId;
    if (found) return found;
    const created = await idp.send(
      new CreateUserPoolClientCommand({
        UserPoolId: poolId,
        ClientName: name,
        ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      }),
    );
    return created.UserPoolClient!.ClientId!;
  } finally {
    idp.destroy();
  }
}

/** A second app client of the app's own pool (not the configured one). */
export const otherClientOfPool = () =>
  findOrCreateClient(process.env.COGNITO_USER_POOL_ID!, 'tessera-test-other-client');

/** Another user pool and its client. */
export async function otherPool(): Promise<{ poolId: string; clientId: string }> {
  const poolId = await findOrCreatePool('tessera-test-other-pool');
  return { poolId, clientId: await findOrCreateClient(poolId, 'tessera-test-client') };
}

export async function accessTokenVia(
  clientId: string,
  email: string,
  password = PASSWORD,
): Promise<string> {
  const idp = cognito();
  try {
    const out = await idp.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: clientId,
        AuthParameters: { USERNAME: email, PASSWORD: password },
      }),
    );
    return out.AuthenticationResult!.AccessToken!;
  } finally {
    idp.destroy();
  }
}
