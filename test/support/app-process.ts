import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import request from 'supertest';
import { eventually } from './services';

/**
 * The real app (`src/main.ts`) in a child process, for what only a process can show: a SIGTERM,
 * a `kill -9`, two instances behind one balancer, process roles. Inherits this worker's
 * environment (its databases, prefixes, topics), with `env` on top.
 */
export interface AppProcess {
  process: ChildProcess;
  port: number;
  url: string;
  /** Resolves with the exit code (null after a signal) once the process has exited. */
  exited: Promise<number | null>;
  /** Its output so far (the last 8 KB of stdout and stderr), shown when it fails. */
  output: () => string;
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts the app on `port` (a free one by default) and `env.HOST` (127.0.0.1 by default; another
 * loopback address lets two instances share a port); does not wait for it: see `appReady`.
 */
export async function spawnApp(
  env: Record<string, string> = {},
  port?: number,
): Promise<AppProcess> {
  const listen = port ?? (await freePort());
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
    cwd: resolve(__dirname, '../..'),
    env: { ...process.env, LOG_LEVEL: 'warn', NODE_ENV: 'test', ...env, PORT: String(listen) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-8000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return {
    process: child,
    port: listen,
    url: `http://${env.HOST ?? '127.0.0.1'}:${listen}`,
    exited,
    output: () => tail,
  };
}

/** Waits (bounded) until the process answers readiness 200; throws with its output otherwise. */
export async function appReady(app: AppProcess, timeoutMs = 90_000): Promise<void> {
  const status = await eventually(
    () =>
      app.process.exitCode !== null
        ? Promise.resolve(-1)
        : request(app.url)
            .get('/health/ready')
            .then(
              (r) => r.status,
              () => 0,
            ),
    (s) => s === 200 || s === -1,
    timeoutMs,
    250,
  );
  if (status !== 200)
    throw new Error(
      `${app.url} not ready (${status === -1 ? 'exited' : status}):\n${app.output()}`,
    );
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. Safe to call twice. */
export async function stopApp(app: AppProcess | undefined, graceMs = 15_000): Promise<void> {
  if (!app || app.process.exitCode !== null || app.process.signalCode !== null) return;
  app.process.kill('SIGTERM');
  const timer = setTimeout(() => app.process.kill('SIGKILL'), graceMs);
  await app.exited;
  clearTimeout(timer);
}
