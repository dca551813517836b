import { certificateProblem, certificateStartupError, StartupError } from './startup-error';

/** An error as Node's TLS socket raises it. */
function tlsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('certificateProblem', () => {
  it("finds a certificate failure along the cause chain, without Node's advice", () => {
    const socket = tlsError(
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
    );
    const wrapped = new Error('retries exhausted', {
      cause: Object.assign(new Error(`Connection error: ${socket.message}`, { cause: socket }), {
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      }),
    });
    expect(certificateProblem(wrapped)).toEqual({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      reason: 'unable to verify the first certificate',
    });
  });

  it('is null for a failure retrying can cure (refused, timed out) and for non-errors', () => {
    expect(certificateProblem(tlsError('ECONNREFUSED', 'connect ECONNREFUSED'))).toBeNull();
    expect(certificateProblem(tlsError('ETIMEDOUT', 'timed out'))).toBeNull();
    expect(certificateProblem('SELF_SIGNED_CERT_IN_CHAIN')).toBeNull();
    expect(certificateProblem(undefined)).toBeNull();
  });
});

describe('certificateStartupError', () => {
  it('names the service, host, code and the variable to fix', () => {
    const error = certificateStartupError(
      'Redis',
      'cache.example:6380',
      'REDIS_TLS_CA',
      tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'),
    );
    expect(error).toBeInstanceOf(StartupError);
    expect(error?.message).toBe(
      "Redis at cache.example:6380: TLS certificate not accepted (SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain); check REDIS_TLS_CA (the CA that signed the server's certificate)",
    );
  });

  it('points at the host name when the certificate does not name it', () => {
    const error = certificateStartupError(
      'Kafka',
      '10.0.0.5:9094',
      'KAFKA_SSL_CA',
      tlsError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"),
    );
    expect(error?.message).toContain("connect by a host name the server's certificate lists");
  });

  it('is null for any other failure, which the client keeps retrying', () => {
    expect(
      certificateStartupError('Redis', 'h:1', 'REDIS_TLS_CA', tlsError('ECONNREFUSED', 'refused')),
    ).toBeNull();
  });
});
