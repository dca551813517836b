import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appConfig, flagsAgainstRole } from './app.config';
import { ConfigValidationError } from './config.errors';
import { databaseConfig } from './database.config';
import { kafkaConfig } from './kafka.config';
import { locationConfig } from './location.config';
import { messagingConfig } from './messaging.config';
import { redisConfig } from './redis.config';

describe('configuration', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  function problemsOf(load: () => unknown): string[] {
    try {
      load();
    } catch (error) {
      if (error instanceof ConfigValidationError) return error.problems;
      throw error;
    }
    throw new Error('configuration was accepted');
  }

  it('names a missing required variable', () => {
    delete process.env.DATABASE_URL;
    expect(problemsOf(() => databaseConfig())).toEqual([
      expect.stringMatching(/^DATABASE_URL: .*\(got unset\)$/),
    ]);
  });

  it('names a malformed variable and what it expects, without echoing secrets', () => {
    process.env.DATABASE_URL = 'mysql://root:hunter2@db/app';
    const [problem] = problemsOf(() => databaseConfig());
    expect(problem).toContain(
      'DATABASE_URL: expected a URL with scheme postgres:// or postgresql://',
    );
    expect(problem).not.toContain('hunter2');
  });

  it('rejects a port that is not a number, and a log level it does not know', () => {
    process.env.PORT = 'eighty';
    process.env.LOG_LEVEL = 'loud';
    const problems = problemsOf(() => appConfig());
    expect(problems).toEqual([
      expect.stringMatching(/^PORT: .*\(got 'eighty'\)$/),
      expect.stringMatching(
        /^LOG_LEVEL: expected fatal, error, warn, info, debug, trace or silent/,
      ),
    ]);
  });

  it('parses lists and applies defaults', () => {
    process.env.KAFKA_BROKERS = 'a:9092, b:9093';
    delete process.env.REDIS_URL;
    expect(kafkaConfig().brokers).toEqual(['a:9092', 'b:9093']);
    expect(redisConfig().url).toBe('redis://127.0.0.1:6379');
    process.env.KAFKA_BROKERS = 'no-port';
    expect(problemsOf(() => kafkaConfig())).toEqual([expect.stringContaining('KAFKA_BROKERS')]);
  });

  it('gives consumer groups a session a dead member is evicted within 10 s of, and bounds the heartbeat by it', () => {
    for (const name of ['SESSION_TIMEOUT', 'HEARTBEAT_INTERVAL', 'REBALANCE_TIMEOUT'])
      delete process.env[`KAFKA_CONSUMER_${name}_MS`];
    expect(kafkaConfig().consumer).toEqual({
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 3_000,
      rebalanceTimeoutMs: 10_000,
    });
    process.env.KAFKA_CONSUMER_SESSION_TIMEOUT_MS = '6000';
    process.env.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS = '2500';
    expect(problemsOf(() => kafkaConfig())).toEqual([
      'KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: at most a third of KAFKA_CONSUMER_SESSION_TIMEOUT_MS',
    ]);
    process.env.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS = 'often';
    expect(problemsOf(() => kafkaConfig())).toEqual([
      expect.stringMatching(/^KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: expected a whole number/),
    ]);
  });

  it('trusts no proxy by default, and takes hop counts or proxy addresses when told', () => {
    delete process.env.TRUST_PROXY;
    expect(appConfig().trustProxy).toBe(false);
    process.env.TRUST_PROXY = '2';
    expect(appConfig().trustProxy).toBe(2);
    process.env.TRUST_PROXY = '10.0.0.0/8, 127.0.0.1';
    expect(appConfig().trustProxy).toBe('10.0.0.0/8, 127.0.0.1');
    process.env.TRUST_PROXY = 'everyone';
    expect(problemsOf(() => appConfig())).toEqual([expect.stringContaining('TRUST_PROXY')]);
  });

  it('sets the background-work flags from TESSERA_ROLE, an explicit flag still winning', () => {
    const flags = () => ({
      role: appConfig().role,
      consumers: locationConfig().consumersEnabled,
      jobs: locationConfig().workersEnabled,
      messaging: messagingConfig().workersEnabled,
    });
    for (const name of [
      'LOCATION_CONSUMERS_ENABLED',
      'LOCATION_WORKERS_ENABLED',
      'MESSAGING_WORKERS_ENABLED',
    ])
      delete process.env[name];
    delete process.env.TESSERA_ROLE;
    expect(flags()).toEqual({ role: 'all', consumers: true, jobs: true, messaging: true });
    process.env.TESSERA_ROLE = 'api';
    expect(flags()).toEqual({ role: 'api', consumers: false, jobs: false, messaging: false });
    expect(appConfig().servesApi).toBe(true);
    process.env.LOCATION_CONSUMERS_ENABLED = 'true';
    expect(flags()).toMatchObject({ consumers: true, jobs: false, messaging: false });
    expect(flagsAgainstRole()).toEqual(['LOCATION_CONSUMERS_ENABLED=true']);
    process.env.TESSERA_ROLE = 'worker';
    process.env.MESSAGING_WORKERS_ENABLED = 'false';
    expect(flags()).toEqual({ role: 'worker', consumers: true, jobs: true, messaging: false });
    expect(flagsAgainstRole()).toEqual(['MESSAGING_WORKERS_ENABLED=false']);
    expect(appConfig().servesApi).toBe(false);
    process.env.TESSERA_ROLE = 'both';
    expect(problemsOf(() => appConfig())).toEqual([
      expect.stringMatching(/^TESSERA_ROLE: expected all, api or worker/),
    ]);
  });

  it('reads any variable from the file named by its _FILE form (Docker and Kubernetes secrets)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-config-'));
    const file = join(dir, 'database-url');
    writeFileSync(file, 'postgres://app:s3cret@db.internal:5432/tessera\n');
    delete process.env.DATABASE_URL;
    process.env.DATABASE_URL_FILE = file;
    expect(databaseConfig().url).toBe('postgres://app:s3cret@db.internal:5432/tessera');

    process.env.DATABASE_URL = 'postgres://other@db/x';
    expect(problemsOf(() => databaseConfig())).toEqual([
      'DATABASE_URL_FILE: set DATABASE_URL or DATABASE_URL_FILE, not both',
    ]);
    delete process.env.DATABASE_URL;
    process.env.DATABASE_URL_FILE = join(dir, 'missing');
    expect(problemsOf(() => databaseConfig())).toEqual([
      `DATABASE_URL_FILE: cannot read ${join(dir, 'missing')} (ENOENT)`,
    ]);
    // The value read is validated like the variable itself.
    writeFileSync(file, 'mysql://x@y/z');
    process.env.DATABASE_URL_FILE = file;
    expect(problemsOf(() => databaseConfig())).toEqual([expect.stringContaining('DATABASE_URL')]);
    rmSync(dir, { recursive: true });
  });
});
