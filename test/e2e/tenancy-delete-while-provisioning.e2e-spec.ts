import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import request from 'supertest';
import { TENANT_PROVISIONED, TenantProvisionedEvent } from '../../src/modules/tenancy';
import { createTestApp, type TestApp } from '../support/app';
import { type Identity, platformAdmin, platformSql } from '../support/identities';
import { eventually } from '../support/services';
import { uniqueName } from '../support/tenancy';

/** Holds the provisioning of this suite's tenants at its last step until the test lets it go. */
@Injectable()
class ProvisioningGate {
  private readonly held = new Map<string, () => void>();
  readonly reached = new Set<string>();

  @OnEvent(TENANT_PROVISIONED, { promisify: true })
  async hold(event: TenantProvisionedEvent): Promise<void> {
    if (!event.name.startsWith('race-')) return;
    this.reached.add(event.name);
    await new Promise<void>((release) => this.held.set(event.name, release));
  }

  release(name: string): void {
    this.held.get(name)?.();
  }
}

const RUNS = 20;

describe('deleting a tenant while it provisions', () => {
  let t: TestApp;
  let gate: ProvisioningGate;
  let admin: Identity;

  beforeAll(async () => {
    t = await createTestApp({ extra: { providers: [ProvisioningGate] } });
    gate = t.app.get(ProvisioningGate);
    admin = await platformAdmin(t);
  });
  afterAll(() => t.close());

  const statusOf = async (id: string) =>
    (await platformSql<{ status: string }>('select status from tenants where id = $1', [id]))[0]
      ?.status;

  it(`refuses the delete while provisioning runs, ${RUNS} times: the tenant never comes back`, async () => {
    const outcomes: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      const name = uniqueName('race');
      const creating = request(t.url)
        .post('/api/v1/tenants')
        .set('Authorization', admin.bearer)
        .send({ name });
      const created = creating.then((res) => res);
      await eventually(
        () => Promise.resolve(gate.reached.has(name)),
        (reached) => reached,
        30_000,
        10,
      );
      const [row] = await platformSql<{ id: string }>('select id from tenants where name = $1', [
        name,
      ]);
      const deleted = await request(t.url)
        .delete(`/api/v1/tenants/${row.id}`)
        .set('Authorization', admin.bearer);
      gate.release(name);
      const res = await created;
      const final = await statusOf(row.id);
      outcomes.push(`${deleted.status}/${res.status}/${final}`);
      expect({ delete: deleted.status, code: deleted.body.code }).toEqual({
        delete: 409,
        code: 'TENANCY.TENANT_NOT_ACTIVE',
      });
      expect(res.status).toBe(201);
      expect(final).toBe('active');
      // Once provisioned, the delete goes through and stays done.
      await request(t.url)
        .delete(`/api/v1/tenants/${row.id}`)
        .set('Authorization', admin.bearer)
        .expect(204);
      expect(await statusOf(row.id)).toBe('deleted');
    }
    console.log('delete/create/final per run', outcomes.join(' '));
  }, 300_000);

  it('a delete racing an unheld create either wins cleanly or is refused: never 204 then alive', async () => {
    const outcomes: string[] = [];
    for (let run = 0; run < 10; run++) {
      const name = uniqueName('free');
      const creating = request(t.url)
        .post('/api/v1/tenants')
        .set('Authorization', admin.bearer)
        .send({ name })
        .then((res) => res);
      let deleteStatus = 0;
      let id: string | undefined;
      // Delete as soon as the row exists, and keep trying until it is answered other than 409.
      while (deleteStatus === 0 || deleteStatus === 409) {
        id ??= (
          await platformSql<{ id: string }>('select id from tenants where name = $1', [name])
        )[0]?.id;
        if (!id) continue;
        deleteStatus = (
          await request(t.url).delete(`/api/v1/tenants/${id}`).set('Authorization', admin.bearer)
        ).status;
      }
      const res = await creating;
      const final = await statusOf(id!);
      outcomes.push(`${deleteStatus}/${res.status}/${final}`);
      expect(deleteStatus).toBe(204);
      expect(final).toBe('deleted');
    }
    console.log('unheld delete/create/final', outcomes.join(' '));
  }, 180_000);
});
