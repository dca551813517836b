import amqplib from 'amqplib';
import request from 'supertest';
import { OutboxRelay } from '../../src/modules/messaging';
import { RabbitMqService } from '../../src/shared/rabbitmq';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, platformAdmin, tenantMember, type Identity } from '../support/identities';
import { eventually, services } from '../support/services';
import { unitOfWork } from '../support/tenancy';

process.env.MESSAGING_RELAY_AFTER_MS = '300';
process.env.MESSAGING_RELAY_INTERVAL_MS = '300';

describe('messaging faults', () => {
  let t: TestApp;
  let owner: Identity;
  let tenant: { id: string };
  let admin: Identity;

  beforeAll(async () => {
    t = await createTestApp();
    admin = await platformAdmin(t);
    tenant = await createTenant(t, admin);
    owner = await tenantMember(t, tenant.id, 'tenant_owner');
  });
  afterAll(async () => {
    await services('up', 'rabbitmq');
    if (tenant)
      await request(t.url)
        .delete(`/api/v1/tenants/${tenant.id}`)
        .set('Authorization', admin.bearer)
        .catch(() => undefined);
    await t?.close();
  });

  /** For a failure report: where the messages that did not end processed are. */
  const whereAreThey = async (ids: string[]) => {
    const rows = await unitOfWork<unknown[]>(t, tenant.id, (m) =>
      m.query(
        `select m.status, m.attempts, (o.message_id is not null) as in_outbox, count(*)::int as n,
                min(m.created_at) as first, max(m.created_at) as last
           from messages m left join message_outbox o on o.message_id = m.id
          where m.id = any($1::uuid[]) and m.status <> 'processed'
          group by 1, 2, 3`,
        [ids],
      ),
    );
    const broker = await amqplib.connect(process.env.RABBITMQ_URL!);
    const queues: Record<string, unknown> = {};
    try {
      for (const name of [`tenant.${tenant.id}.default`, `tenant.${tenant.id}.default.dlq`]) {
        const channel = await broker.createChannel();
        queues[name] = await channel.checkQueue(name).catch((err: Error) => err.message);
        await channel.close().catch(() => undefined);
      }
    } finally {
      await broker.close().catch(() => undefined);
    }
    return `rabbitmq restart, not processed: ${JSON.stringify({ rows, queues, consumer: consumerStats() })}`;
  };
  const consumerStats = () => t.app.get(RabbitMqService).stats();

  const message = async (id: string) =>
    (await request(t.url).get(`/api/v1/messages/${id}`).set('Authorization', owner.bearer))
      .body as { status: string };

  it('the publish dies between commit and confirm (test seam): the relay publishes every row; 0 lost', async () => {
    const rabbit = t.app.get(RabbitMqService);
    const real = rabbit.publish.bind(rabbit);
    let crashes = 0;
    // The seam: the first publish of each message never reaches the broker, as if the process died.
    const seen = new Set<string>();
    jest.spyOn(rabbit, 'publish').mockImplementation((exchange, key, body, options) => {
      const id = options?.messageId;
      if (id && key.endsWith('.default') && !seen.has(id)) {
        seen.add(id);
        crashes++;
        return Promise.reject(new Error('crashed between commit and confirm'));
      }
      return real(exchange, key, body, options);
    });
    const accepted: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const res = await request(t.url)
          .post('/api/v1/messages')
          .set('Authorization', owner.bearer)
          .send({ payload: { i } });
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBeDefined();
        expect(res.body.details[0]).toMatchObject({ status: 'queued', relayed_later: true });
        accepted.push(res.body.details[0].message_id as string);
      }
      const statuses = await eventually(
        () => Promise.all(accepted.map(message)),
        (all) => all.every((m) => m.status === 'processed'),
        30_000,
      );
      const processed = statuses.filter((m) => m.status === 'processed').length;
      console.log(
        `commit/confirm crash: stored ${accepted.length}, crashed publishes ${crashes}, processed ${processed}, lost ${accepted.length - processed}`,
      );
      expect(processed).toBe(accepted.length);
      expect(t.app.get(OutboxRelay)).toBeDefined();
    } finally {
      jest.restoreAllMocks();
    }
  });

  // A loss seen once (338 confirmed messages left queued, in a run whose broker had quorum
  // queues piled up from earlier runs) did not come back in clean whole-suite runs; should it,
  // the report below says where the missing messages are.
  it('RabbitMQ stopped and restarted during a stream of 2,000 messages: 0 lost, every 202 (and every relayed 503) ends processed, consumers resubscribe', async () => {
    const TOTAL = 2_000;
    const accepted: string[] = [];
    const relayed: string[] = [];
    const other: number[] = [];
    let sent = 0;
    let stopped = false;
    let restarted = false;
    const send = async () => {
      while (sent < TOTAL) {
        const i = sent++;
        const res = await request(t.url)
          .post('/api/v1/messages')
          .set('Authorization', owner.bearer)
          .send({ payload: { i } })
          .catch((err: Error) => ({
            status: 0,
            body: { error: err.message },
            headers: { 'retry-after': undefined },
          }));
        if (res.status === 202) accepted.push(res.body.id as string);
        else if (res.status === 503 && res.body.details?.[0]?.relayed_later) {
          expect(res.headers['retry-after']).toBeDefined();
          relayed.push(res.body.details[0].message_id as string);
        } else other.push(res.status);
        if (i === 500 && !stopped) {
          stopped = true;
          void services('down', 'rabbitmq').then(async () => {
            // Keep publishing while it is down, then bring it back.
            await new Promise((r) => setTimeout(r, 2_000));
            await services('up', 'rabbitmq');
            restarted = true;
          });
        }
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: 10 }, send));
    const publishedMs = Date.now() - started;
    await eventually(() => Promise.resolve(restarted), Boolean, 120_000, 500);
    const ids = [...accepted, ...relayed];
    const counts = async () => {
      const rows = await unitOfWork(t, tenant.id, (m) =>
        m.query(
          `select count(*)::int as n from messages where id = any($1::uuid[]) and status = 'processed'`,
          [ids],
        ),
      );
      return (rows as Array<{ n: number }>)[0].n;
    };
    const processed = await eventually(counts, (n) => n === ids.length, 120_000, 2_000);
    if (processed !== ids.length) console.log(await whereAreThey(ids));
    console.log(
      `rabbitmq restart: publishing took ${publishedMs} ms, until all processed ${Date.now() - started} ms`,
    );
    console.log(
      `rabbitmq restart: sent ${TOTAL}, 202 ${accepted.length}, 503 (stored, relayed) ${relayed.length}, other ${other.length} [${[...new Set(other)].join(',')}], processed ${processed}, lost ${ids.length - processed}`,
    );
    expect(other).toEqual([]);
    expect(ids).toHaveLength(TOTAL);
    expect(processed).toBe(ids.length);
  }, 300_000);
});
