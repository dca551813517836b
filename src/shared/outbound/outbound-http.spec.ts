import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LocationConfig } from '../../config';
import { OutboundHttp, SIGNATURE_HEADER, signBody } from './outbound-http';

/** A loopback HTTP server in this process (no network beyond 127.0.0.1). */
async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}/hook` };
}

describe('OutboundHttp.deliver', () => {
  const outbound = new OutboundHttp({ deliveryAllowedHosts: [] } as unknown as LocationConfig);
  const servers: Server[] = [];

  afterAll(async () => {
    await outbound.onApplicationShutdown();
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
  });

  it('signs, answers ok, and leaves no deadline running once the delivery settled', async () => {
    const seen: Array<{ signature: string; body: string }> = [];
    const sink = await serve((req, res, body) => {
      seen.push({ signature: String(req.headers[SIGNATURE_HEADER]), body });
      res.writeHead(204).end();
    });
    servers.push(sink.server);
    // Every deadline timer a delivery starts is cleared when it settles: a timer left to fire
    // (as `AbortSignal.timeout` is) holds its signal for the whole timeout and then builds an
    // exception per delivery, thousands a second under load.
    const started = new Set<unknown>();
    const cleared = new Set<unknown>();
    const realSetTimeout = global.setTimeout;
    const realClearTimeout = global.clearTimeout;
    const timeoutSignal = jest.spyOn(AbortSignal, 'timeout');
    const set = jest
      .spyOn(global, 'setTimeout')
      .mockImplementation((callback: () => void, ms?: number) => {
        const handle = realSetTimeout(callback, ms);
        if (ms === 60_000) started.add(handle);
        return handle;
      });
    const clear = jest.spyOn(global, 'clearTimeout').mockImplementation((handle) => {
      cleared.add(handle);
      realClearTimeout(handle);
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          outbound.deliver({
            url: sink.url,
            body: JSON.stringify({ i }),
            idempotencyKey: `key-${i}`,
            signingSecret: 'whsec_test',
            timeoutMs: 60_000,
            operatorTarget: true,
          }),
        ),
      );
      expect(results.every((result) => result.ok && result.status === 204)).toBe(true);
    } finally {
      set.mockRestore();
      clear.mockRestore();
      timeoutSignal.mockRestore();
    }
    expect(timeoutSignal).not.toHaveBeenCalled();
    expect(started.size).toBe(20);
    expect([...started].filter((handle) => !cleared.has(handle))).toEqual([]);
    expect(seen).toHaveLength(20);
    for (const { signature, body } of seen) {
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature)!;
      expect(v1).toBe(signBody('whsec_test', Number(t), body));
    }
  });

  it('gives up at its deadline when the target never answers (retryable timeout)', async () => {
    const sink = await serve(() => undefined);
    servers.push(sink.server);
    const began = performance.now();
    const result = await outbound.deliver({
      url: sink.url,
      body: '{}',
      idempotencyKey: 'silent',
      timeoutMs: 300,
      operatorTarget: true,
    });
    const elapsed = performance.now() - began;
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(result.error).toMatch(/^timeout: /);
    expect(elapsed).toBeLessThan(10_000);
  });
});
