import request from 'supertest';
import { OutboxRelay } from '../../src/modules/messaging';
import { RabbitMqService } from '../../src/shared/rabbitmq';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, platformAdmin, tenantMember, type Identity } from '../support/identities';
import { eventually } from '../support/services';

process.env.MESSAGING_RELAY_AFTER_MS = '300';
process.env.MESSAGING_RELAY_INTERVAL_MS = '300';

describe('messaging faults', () => {
  let t: TestApp;
  let owner: Identity;
  let tenant: { id: string };

  beforeAll(async () => {
    t = await createTestApp();
    const admin = await platformAdmin(t);
    tenant = await createTenant(t, admin);
    owner = await tenantMember(t, tenant.id, 'tenant_owner');
  });
  afterAll(async () => {
    await t?.close();
  });

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
});
