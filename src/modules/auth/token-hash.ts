import { createHash } from 'node:crypto';

/** SHA-256 (hex) of an access token: the key of its session; the token itself is never stored. */
export const tokenHash = (token: string): string =>
  createHash('sha256').update(token).digest('hex');
