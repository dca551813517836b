import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigValidationError, metricsConfig, type AppConfig } from '../../config';
import { MetricsAccess } from './metrics-access';

const TOKEN = 'a-long-operator-token-0123456789';

function access(env: AppConfig['env'], port?: number, token?: string): MetricsAccess {
  return new MetricsAccess({ port, host: '127.0.0.1', token, tenantSeriesMax: 100 }, {
    env,
  } as AppConfig);
}
/** The status a scrape is answered with: 200, or the refusal's. */
function status(a: MetricsAccess, listener: 'main' | 'metrics', authorization?: string): number {
  return a.refusal(listener, authorization)?.status ?? 200;
}

describe('MetricsAccess: who may read /metrics', () => {
  it('with neither a port nor a token: open on the main port outside production, served nowhere in it', () => {
    expect(status(access('development'), 'main')).toBe(200);
    expect(status(access('test'), 'main')).toBe(200);
    const production = access('production');
    expect(production.disabled).toBe(true);
    expect(status(production, 'main')).toBe(404);
  });

  it('with a port: the main port answers 404, the metrics port serves it (in production too)', () => {
    for (const env of ['development', 'production'] as const) {
      const a = access(env, 9464);
      expect(a.disabled).toBe(false);
      expect(status(a, 'main')).toBe(404);
      expect(status(a, 'metrics')).toBe(200);
    }
  });

  it('with a token: only the exact bearer token reads, on whichever port serves it', () => {
    const cases = [
      [access('production', undefined, TOKEN), 'main'],
      [access('production', 0, TOKEN), 'metrics'],
    ] as const;
    for (const [a, on] of cases) {
      expect(status(a, on)).toBe(401);
      expect(status(a, on, `Bearer ${TOKEN}x`)).toBe(401);
      expect(status(a, on, `Bearer ${TOKEN.slice(0, -1)}`)).toBe(401);
      expect(status(a, on, `Basic ${TOKEN}`)).toBe(401);
      expect(status(a, on, TOKEN)).toBe(401);
      expect(status(a, on, `Bearer ${TOKEN}`)).toBe(200);
      expect(status(a, on, `bearer  ${TOKEN} `)).toBe(200);
    }
    expect(status(cases[1][0], 'main', `Bearer ${TOKEN}`)).toBe(404);
    const refusal = access('test', undefined, TOKEN).refusal('main', undefined)!;
    expect(refusal.code).toBe('COMMON.UNAUTHENTICATED');
    expect(refusal.headers['WWW-Authenticate']).toBe('Bearer realm="metrics"');
  });
});

describe('metrics configuration', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });
  const problemsOf = (load: () => unknown): string[] => {
    try {
      load();
    } catch (error) {
      if (error instanceof ConfigValidationError) return error.problems;
      throw error;
    }
    throw new Error('configuration was accepted');
  };

  it('reads the token from METRICS_TOKEN_FILE, trimmed; an empty value is unset', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'metrics-')), 'token');
    writeFileSync(file, `${TOKEN}\n`);
    Object.assign(process.env, { METRICS_TOKEN_FILE: file, METRICS_TOKEN: '', METRICS_PORT: '' });
    expect(metricsConfig()).toMatchObject({ token: TOKEN, port: undefined });
  });

  it('refuses a short token, both token variables at once, an unreadable file, a bad port; never echoes the token', () => {
    process.env.METRICS_TOKEN = 'short-secret';
    expect(problemsOf(() => metricsConfig()).join()).toMatch(
      /METRICS_TOKEN: .*16.*\(got \(hidden\)\)/,
    );
    Object.assign(process.env, { METRICS_TOKEN: TOKEN, METRICS_TOKEN_FILE: '/nowhere' });
    expect(problemsOf(() => metricsConfig()).join()).toContain('not both');
    delete process.env.METRICS_TOKEN;
    expect(problemsOf(() => metricsConfig()).join()).toContain('cannot read /nowhere');
    delete process.env.METRICS_TOKEN_FILE;
    process.env.METRICS_PORT = '70000';
    expect(problemsOf(() => metricsConfig()).join()).toContain('METRICS_PORT');
  });
});
