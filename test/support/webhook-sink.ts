import { createServer, type RequestListener, type Server } from 'node:http';
import { createTestApp, type TestApp } from './app';

/**
 * A local webhook target on a free port, allowed by the outbound policy (its address is private):
 * `url` ends in `/hook`.
 */
export async function startWebhookSink(
  listener: RequestListener,
): Promise<{ server: Server; port: number; url: string }> {
  const server = createServer(listener);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.env.LOCATION_DELIVERY_ALLOWED_HOSTS = `127.0.0.1:${port}`;
  return { server, port, url: `http://127.0.0.1:${port}/hook` };
}

/** An app that stores and publishes but runs no messaging worker (the test starts its own). */
export async function createAppWithoutWorkers(): Promise<TestApp> {
  process.env.MESSAGING_WORKERS_ENABLED = 'false';
  try {
    return await createTestApp();
  } finally {
    delete process.env.MESSAGING_WORKERS_ENABLED;
  }
}
