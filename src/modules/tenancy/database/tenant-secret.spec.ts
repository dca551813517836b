import { parseTenantSecret } from './tenant-secret';

describe('parseTenantSecret', () => {
  const tenant = '5b2f8f7e-3c1a-4d55-9a3e-1a2b3c4d5e6f';
  const valid = {
    engine: 'postgresql',
    host: 'db',
    port: 5432,
    database: 'd',
    username: 'u',
    password: 'p',
  };

  it('keys the pool by host, port, database and user, never by tenant', () => {
    const secret = parseTenantSecret(tenant, 's', JSON.stringify({ ...valid, pool: { max: 3 } }));
    expect(secret.identityKey).toBe('db:5432/d/u');
    expect(secret.identityKey).not.toContain(tenant);
    expect(secret.pool).toEqual({ max: 3, idleTimeoutMs: undefined });
    expect(secret.owner).toBeUndefined();
  });

  it("accepts RDS's names (engine postgres, dbname, port as text)", () => {
    const { engine: _e, database: _d, ...rest } = valid;
    const secret = parseTenantSecret(
      tenant,
      's',
      JSON.stringify({ ...rest, engine: 'postgres', dbname: 'd', port: '6432' }),
    );
    expect(secret.identity).toEqual({ host: 'db', port: 6432, database: 'd', username: 'u' });
  });

  it('names what is wrong without echoing the password', () => {
    expect(() => parseTenantSecret(tenant, 's', 'not json')).toThrow('secret s is not JSON');
    expect(() =>
      parseTenantSecret(
        tenant,
        's',
        JSON.stringify({ ...valid, engine: 'mysql', password: 'hunter2' }),
      ),
    ).toThrow(/engine/);
    try {
      parseTenantSecret(tenant, 's', JSON.stringify({ engine: 'postgresql', password: 'hunter2' }));
    } catch (error) {
      expect((error as Error).message).toMatch(/host/);
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});
