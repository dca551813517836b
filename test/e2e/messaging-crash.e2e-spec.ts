import { spawn } from 'node:child_process';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { resolve } from 'node:path';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { createAppWithoutWorkers, startWebhookSink } from '../support/webhook-sink';
import { createTenant, platformAdmin, tenantMember, type Identity } from '../support/identities';
import { SUITE_RETRY_DELAYS_MS } from '../support/env';
import { eventually } from '../support/services';
import { unitOfWork } from '../support/tenancy';

process.env.MESSAGING_RETRY_DELAYS_MS = SUITE_RETRY_DELAYS_MS;
// The killed worker's claims are taken again once their lease ends: a short one keeps the wait short.
process.env.MESSAGING_CLAIM_LEASE_MS = '8000';

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createNetServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('messaging: a worker process killed with kill -9', () => {
  let sink: Server;
  let sinkPort = 0;
  let holding = true;
  const held: ServerResponse[] = [];
  const calls = new Map<string, number>();
  let api: TestApp;
  let workers: TestApp | undefined;
  let owner: Identity;
  let tenant: { id: string };
  let admin: Identity;

  beforeAll(async () => {
    ({ server: sink, port: sinkPort } = await startWebhookSink(
      (req: IncomingMessage, res: ServerResponse) => {
        const key = String(req.headers['idempotency-key']);
        calls.set(key, (calls.get(key) ?? 0) + 1);
        req.resume();
        req.on('end', () => (holding ? held.push(res) : res.writeHead(200).end()));
      },
    ));
    api = await createAppWithoutWorkers();
    admin = await platformAdmin(api);
    tenant = await createTenant(api, admin);
    owner = await tenantMember(api, tenant.id, 'tenant_owner');
  });
  afterAll(async () => {
    if (tenant)
      await request(api.url)
        .delete(`/api/v1/tenants/${tenant.id}`)
        .set('Authorization', admin.bearer)
        .catch(() => undefined);
    held.forEach((res) => res.destroy());
    await workers?.close();
    await api?.close();
    sink?.close();
  });

  it('every delivery it held unacked is redelivered and processed once in effect (same Idempotency-Key)', async () => {
    const config = await request(api.url)
      .put(`/api/v1/tenants/${tenant.id}/consumers/crash/config`)
      .set('Authorization', owner.bearer)
      .send({ workers: 5, max_attempts: 20, webhook_url: `http://127.0.0.1:${sinkPort}/hook` });
    expect(config.status).toBe(200);

    const port = await freePort();
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
      cwd: resolve(__dirname, '../..'),
      env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', NODE_ENV: 'test' },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const exited = new Promise<string | null>((done) => child.once('exit', (_c, s) => done(s)));
    try {
      const up = await eventually(
        () =>
          request(`http://127.0.0.1:${port}`)
            .get('/health/ready')
            .then(
              (r) => r.status,
              () => 0,
            ),
        (status) => status === 200,
        90_000,
        500,
      );
      expect(up).toBe(200);

      const accepted: string[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await request(api.url)
          .post('/api/v1/messages')
          .set('Authorization', owner.bearer)
          .send({ queue_name: 'crash', payload: { i } });
        expect(res.status).toBe(202);
        accepted.push(res.body.id as string);
      }
      // The child's five workers are inside their webhook calls, their deliveries unacked.
      await eventually(
        () => Promise.resolve(held.length),
        (n) => n >= 5,
        30_000,
      );
      const heldKeys = [...calls.keys()];
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      holding = false;
      held.splice(0).forEach((res) => res.destroy());

      workers = await createTestApp();
      const processed = await eventually(
        async () => {
          const rows = await unitOfWork(api, tenant.id, (m) =>
            m.query(
              `select count(*)::int as n from messages where id = any($1::uuid[]) and status = 'processed'`,
              [accepted],
            ),
          );
          return (rows as Array<{ n: number }>)[0].n;
        },
        (n) => n === accepted.length,
        // Other processes sharing the broker during development may take (and retry) some.
        120_000,
        500,
      );
      const redelivered = heldKeys.filter((key) => (calls.get(key) ?? 0) >= 2).length;
      console.log(
        `kill -9: accepted ${accepted.length}, held unacked by the killed worker ${heldKeys.length}, redelivered ${redelivered}, processed ${processed}, lost ${accepted.length - processed}, distinct Idempotency-Keys ${calls.size}`,
      );
      expect(processed).toBe(accepted.length);
      expect(redelivered).toBe(heldKeys.length);
      expect([...calls.keys()].sort()).toEqual([...accepted].sort());
    } finally {
      child.kill('SIGKILL');
    }
  }, 300_000);
});
