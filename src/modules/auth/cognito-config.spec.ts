import { cognitoConfig } from '../../config';

describe('cognitoConfig', () => {
  const env = { ...process.env };
  afterEach(() => {
    process.env = { ...env };
  });

  const load = (vars: Record<string, string>) => {
    process.env = { ...env };
    delete process.env.AWS_ENDPOINT_URL;
    delete process.env.COGNITO_JWKS_URL;
    Object.assign(process.env, vars);
    return cognitoConfig();
  };

  it('keeps the Cognito issuer and fetches the keys from the emulator', () => {
    const config = load({
      COGNITO_USER_POOL_ID: 'us-east-1_abc123',
      COGNITO_CLIENT_ID: 'client',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566/',
    });
    expect(config.issuer).toBe('https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc123');
    expect(config.jwksUrl).toBe('http://127.0.0.1:4566/us-east-1_abc123/.well-known/jwks.json');
  });

  it("uses the pool's own JWKS with real Cognito, and an explicit URL when given", () => {
    const real = load({ COGNITO_USER_POOL_ID: 'eu-west-2_Xyz', COGNITO_CLIENT_ID: 'client' });
    expect(real.jwksUrl).toBe(
      'https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Xyz/.well-known/jwks.json',
    );
    const explicit = load({
      COGNITO_USER_POOL_ID: 'eu-west-2_Xyz',
      COGNITO_CLIENT_ID: 'client',
      COGNITO_JWKS_URL: 'https://keys.example.com/jwks.json',
    });
    expect(explicit.jwksUrl).toBe('https://keys.example.com/jwks.json');
  });

  it('names the variable when the pool id is malformed', () => {
    expect(() => load({ COGNITO_USER_POOL_ID: 'nope', COGNITO_CLIENT_ID: 'client' })).toThrow(
      /COGNITO_USER_POOL_ID/,
    );
  });
});
