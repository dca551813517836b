import { ConfigValidationError, kafkaConfig } from '../../config';
import { kafkaConnectionOptions } from './kafka-connection';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEfake\n-----END PRIVATE KEY-----\n';

describe('Kafka connection settings', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  const load = (env: Record<string, string>) => {
    for (const name of Object.keys(process.env))
      if (name.startsWith('KAFKA_')) delete process.env[name];
    Object.assign(process.env, env);
    return kafkaConfig();
  };
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      load(env);
    } catch (error) {
      if (error instanceof ConfigValidationError) return error.problems;
      throw error;
    }
    throw new Error('configuration was accepted');
  };

  it('connects in plain text without SASL by default', () => {
    expect(kafkaConnectionOptions(load({}), 'us-east-1')).toEqual({});
  });

  it('turns on TLS with the system CAs, a private CA, and a client certificate', () => {
    expect(kafkaConnectionOptions(load({ KAFKA_SSL: 'true' }), 'us-east-1')).toEqual({
      ssl: true,
    });
    expect(
      kafkaConnectionOptions(load({ KAFKA_SSL: 'true', KAFKA_SSL_CA: CA }), 'us-east-1'),
    ).toEqual({ ssl: { ca: [CA] } });
    const mtls = { KAFKA_SSL: 'true', KAFKA_SSL_CA: CA, KAFKA_SSL_CERT: CA, KAFKA_SSL_KEY: KEY };
    expect(kafkaConnectionOptions(load(mtls), 'us-east-1')).toEqual({
      ssl: { ca: [CA], cert: CA, key: KEY },
    });
  });

  it.each(['plain', 'scram-sha-256', 'scram-sha-512'])(
    'passes SASL %s with its user and password',
    (mechanism) => {
      const config = load({
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: mechanism,
        KAFKA_SASL_USERNAME: 'tessera',
        KAFKA_SASL_PASSWORD: 'pa55word',
      });
      expect(kafkaConnectionOptions(config, 'us-east-1').sasl).toEqual({
        mechanism,
        username: 'tessera',
        password: 'pa55word',
      });
    },
  );

  it('refuses settings that do not go together, naming each, never echoing a certificate', () => {
    expect(problemsOf({ KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toEqual([
      expect.stringMatching(/^KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: required/),
    ]);
    expect(problemsOf({ KAFKA_SSL: 'true', KAFKA_SSL_CERT: CA })).toEqual([
      expect.stringMatching(/^KAFKA_SSL_CERT and KAFKA_SSL_KEY: set both/),
    ]);
    expect(problemsOf({ KAFKA_SSL_CA: CA })).toEqual([expect.stringMatching(/^KAFKA_SSL: /)]);
    expect(problemsOf({ KAFKA_SASL_MECHANISM: 'aws-msk-iam' })).toEqual([
      expect.stringMatching(/^KAFKA_SSL: AWS MSK IAM authentication needs TLS/),
    ]);
    expect(problemsOf({ KAFKA_SSL: 'true', KAFKA_SSL_CA: 'not a pem' })).toEqual([
      'KAFKA_SSL_CA: expected PEM text with a BEGIN CERTIFICATE line (or the _FILE form: its path) (got (hidden))',
    ]);
    expect(problemsOf({ KAFKA_SASL_MECHANISM: 'gssapi' })[0]).toMatch(/^KAFKA_SASL_MECHANISM: /);
  });

  it('signs an AWS MSK IAM token: a presigned kafka-cluster:Connect request for the region, by the SDK chain', async () => {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' });
    const { sasl } = kafkaConnectionOptions(
      load({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'aws-msk-iam' }),
      'eu-west-1',
    );
    expect(sasl?.mechanism).toBe('oauthbearer');
    const provider = (sasl as { oauthBearerProvider: () => Promise<{ value: string }> })
      .oauthBearerProvider;
    const { value } = await provider();
    const url = new URL(Buffer.from(value, 'base64url').toString());
    expect(url.host).toBe('kafka.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('kafka-cluster:Connect');
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(
      /^AKIDEXAMPLE\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/,
    );
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });
});
