import { Inject, Injectable } from '@nestjs/common';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache, SimplePenaltyBox } from 'aws-jwt-verify/jwk';
import type { Fetcher } from 'aws-jwt-verify/https';
import { LRUCache } from 'lru-cache';
import { cognitoConfig, type CognitoConfig } from '../../config';
import { counter } from '../../shared/metrics';
import { tokenHash } from './token-hash';

const jwksFetches = counter({
  name: 'tessera_auth_jwks_fetches_total',
  help: 'JWKS downloads (first use, and refetches for an unknown kid)',
  labelNames: ['outcome'],
});

/** The claims the app relies on, from a verified Cognito access token. */
export interface AccessClaims {
  sub: string;
  exp: number;
  username?: string;
  /** `tokenHash` of the token (its session's key), computed once per token with the claims. */
  hash: string;
}

/** The keys could not be fetched (network, status): a 503, not the caller's fault. */
export class JwksUnavailableError extends Error {
  override name = 'JwksUnavailableError';
}

/**
 * Fetches the JWKS from the configured URL whatever URI the verifier derived from the issuer:
 * with the emulator the keys live elsewhere than `<issuer>/.well-known/jwks.json`.
 */
class RedirectingFetcher implements Fetcher {
  constructor(private readonly url: string) {}

  async fetch(): Promise<ArrayBuffer> {
    let response: Response;
    try {
      response = await fetch(this.url, { signal: AbortSignal.timeout(3_000) });
    } catch (error) {
      jwksFetches.inc({ outcome: 'error' });
      throw new JwksUnavailableError(`JWKS fetch failed: ${(error as Error).message}`);
    }
    if (!response.ok) {
      jwksFetches.inc({ outcome: 'error' });
      throw new JwksUnavailableError(`JWKS answered ${response.status}`);
    }
    jwksFetches.inc({ outcome: 'ok' });
    return response.arrayBuffer();
  }
}

/**
 * Verifies RS256 signature (JWKS, cached; an unknown kid refetches at most once per interval),
 * `iss`, `token_use = access`, `client_id`, `exp` and `nbf`. Throws on anything else.
 */
@Injectable()
export class AccessTokenVerifier {
  private readonly verifier;
  // A token that verified once stays valid until its exp (the signature cannot change): repeat
  // requests skip the RSA work. Revocation is the session's job, checked in Redis every time.
  private readonly verified = new LRUCache<string, AccessClaims>({ max: 20_000 });

  constructor(@Inject(cognitoConfig.KEY) config: CognitoConfig) {
    const jwksCache = new SimpleJwksCache({
      fetcher: new RedirectingFetcher(config.jwksUrl),
      penaltyBox: new SimplePenaltyBox({ waitSeconds: config.jwksRefetchSeconds }),
    });
    this.verifier = CognitoJwtVerifier.create(
      { userPoolId: config.userPoolId, tokenUse: 'access', clientId: config.clientId },
      { jwksCache },
    );
  }

  async verify(token: string): Promise<AccessClaims> {
    const now = Date.now() / 1000;
    const cached = this.verified.get(token);
    if (cached && cached.exp > now) return cached;
    const payload = await this.verifier.verify(token);
    const claims = {
      sub: payload.sub,
      exp: payload.exp,
      username: payload.username,
      hash: tokenHash(token),
    };
    this.verified.set(token, claims, { ttl: Math.max(1, (payload.exp - now) * 1000) });
    return claims;
  }
}
