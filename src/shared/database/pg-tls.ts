import type { PgSslMode } from '../../config';

export interface PgTls {
  mode: PgSslMode;
  /** A CA bundle (PEM) to verify the server against instead of the system CAs. */
  ca?: string;
}

/** The TLS options used (a subset of Node's, accepted by node-postgres and TypeORM alike). */
export interface PgSslOptions {
  rejectUnauthorized: boolean;
  ca?: string;
  checkServerIdentity?: () => undefined;
}

/**
 * node-postgres's `ssl` option for an sslmode, with libpq's meanings (node-postgres reads
 * `require` as verify-full, and a URL's own sslmode would override a setting, so the mode is
 * always set here): `require` encrypts without verifying, `verify-ca` checks the chain only,
 * `verify-full` the chain and the host name.
 */
export function pgSslOptions(tls: PgTls): false | PgSslOptions {
  switch (tls.mode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, ca: tls.ca, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true, ca: tls.ca };
  }
}
