/**
 * Node's codes for a peer certificate that failed verification: a CA that did not sign it, a
 * host name it does not name, a date out of its range. Retrying cannot change any of them.
 */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export interface CertificateProblem {
  code: string;
  /** Node's text without its own advice (`; if the root CA is installed locally, …`). */
  reason: string;
}

/**
 * The certificate failure behind `error`, looked for along its `cause` chain (kafkajs and
 * amqplib wrap the socket's error), or null when it is not one.
 */
export function certificateProblem(error: unknown): CertificateProblem | null {
  for (let at = error, depth = 0; at instanceof Error && depth < 5; depth++) {
    const code = (at as Error & { code?: unknown }).code;
    if (typeof code === 'string' && CERTIFICATE_CODES.has(code))
      return { code, reason: at.message.split(';')[0].replace(/^Connection error: /, '') };
    at = at.cause;
  }
  return null;
}

/**
 * A dependency the process cannot use, found at start: main.ts prints its message as one line
 * and exits 1. Carries no stack worth showing and nothing secret (a host, never a URL).
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/**
 * A StartupError for a certificate failure of `service` at `host`, naming the variable to fix;
 * null when `error` is no certificate failure (then the client's own retrying stands).
 */
export function certificateStartupError(
  service: string,
  host: string,
  variable: string,
  error: unknown,
): StartupError | null {
  const problem = certificateProblem(error);
  if (!problem) return null;
  const fix =
    problem.code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? `connect by a host name the server's certificate lists`
      : `check ${variable} (the CA that signed the server's certificate)`;
  return new StartupError(
    `${service} at ${host}: TLS certificate not accepted (${problem.code}: ${problem.reason}); ${fix}`,
    { cause: error },
  );
}
