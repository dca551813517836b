import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = resolve(__dirname, '../../scripts/services.sh');

export type ServiceName = 'postgres' | 'redis' | 'rabbitmq' | 'kafka' | 'moto';

/** Stops or starts a real local service (scripts/services.sh), for failure-path tests. */
export async function services(action: 'up' | 'down', ...names: ServiceName[]): Promise<void> {
  // Runs that share the services with other runs (parallel workers) never stop them.
  if (action === 'down' && process.env.TESSERA_TEST_SHARED_SERVICES === '1') {
    throw new Error('Refusing to stop shared services: this file belongs to the serial project');
  }
  await run('bash', [script, action, ...names], { timeout: 120_000 });
}

export async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!accept(last)) {
    if (Date.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
    last = await probe();
  }
  return last;
}
