import { ConfigValidationError, databaseConfig } from '../../config';
import { pgSslOptions } from './pg-tls';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

describe('PostgreSQL TLS settings', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it("maps libpq's sslmode to what node-postgres verifies", () => {
    expect(pgSslOptions({ mode: 'disable' })).toBe(false);
    expect(pgSslOptions({ mode: 'require' })).toEqual({ rejectUnauthorized: false });
    const chainOnly = pgSslOptions({ mode: 'verify-ca', ca: CA });
    expect(chainOnly).toMatchObject({ rejectUnauthorized: true, ca: CA });
    expect(chainOnly && chainOnly.checkServerIdentity?.()).toBeUndefined();
    expect(pgSslOptions({ mode: 'verify-full', ca: CA })).toEqual({
      rejectUnauthorized: true,
      ca: CA,
    });
  });

  it('takes TLS from DATABASE_SSL_MODE / DATABASE_SSL_CA and refuses it in the URL', () => {
    Object.assign(process.env, {
      DATABASE_URL: 'postgres://app:pw@db.internal:5432/tessera',
      DATABASE_SSL_MODE: 'verify-full',
      DATABASE_SSL_CA: CA,
    });
    expect(databaseConfig().tls).toEqual({ mode: 'verify-full', ca: CA });
    process.env.DATABASE_URL = 'postgres://app:pw@db.internal:5432/tessera?sslmode=require';
    try {
      databaseConfig();
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigValidationError);
      expect((error as ConfigValidationError).problems).toEqual([
        expect.stringMatching(/^DATABASE_URL: set TLS with DATABASE_SSL_MODE/),
      ]);
    }
  });
});
