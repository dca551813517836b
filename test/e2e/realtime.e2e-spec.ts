import request from 'supertest';
import WebSocket from 'ws';
import { TenantFeeds } from '../../src/modules/events';
import { RealtimeGateway, realtimeMetrics } from '../../src/modules/realtime';
import { createTestApp, type TestApp } from '../support/app';
import { AsyncApiMessages } from '../support/contract';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';
import { eventually } from '../support/services';

type Message = { type: string; data: Record<string, unknown> };

/** The WebSocket gateway with the real credentials: API keys and Cognito sessions. */
describe('WebSocket /api/v1/ws with real credentials', () => {
  let t: TestApp;
  let wsUrl: string;
  let tenantA: { id: string; api_key: string };
  let tenantB: { id: string; api_key: string };
  let memberB: Identity;
  /** The message schemas of the served AsyncAPI document. */
  let contract: AsyncApiMessages;

  const open = (query = '', headers: Record<string, string> = {}) =>
    new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(`${wsUrl}${query}`, { headers });
      // The first frame is always hello: {tenant_id, seq}.
      socket.once('message', (raw: Buffer) => {
        const hello = JSON.parse(raw.toString()) as Message;
        contract.expectValid(hello);
        if (hello.type === 'hello') resolve(socket);
        else reject(new Error(`expected hello, got ${raw.toString()}`));
      });
      socket.once('unexpected-response', (_req, res) =>
        reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
  const next = (socket: WebSocket, timeoutMs = 5_000) =>
    new Promise<Message | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      socket.once('message', (raw: Buffer) => {
        clearTimeout(timer);
        resolve(JSON.parse(raw.toString()) as Message);
      });
    });
  const whoami = async (socket: WebSocket) => {
    const answer = next(socket);
    socket.send(JSON.stringify({ type: 'whoami', data: { request_id: 'ws-1' } }));
    return answer;
  };

  beforeAll(async () => {
    t = await createTestApp();
    wsUrl = t.url.replace('http', 'ws') + '/api/v1/ws';
    const admin = await platformAdmin(t);
    tenantA = await createTenant(t, admin);
    tenantB = await createTenant(t, admin);
    memberB = await tenantMember(t, tenantB.id, 'user');
    contract = new AsyncApiMessages((await request(t.url).get('/docs/asyncapi.json')).body);
  });
  afterAll(() => t.close());

  it("an API key's socket runs in the key's tenant", async () => {
    const socket = await open('', { 'x-api-key': tenantA.api_key });
    const answer = await whoami(socket);
    expect(answer).toEqual({
      type: 'whoami',
      data: { tenant_id: tenantA.id, request_id: 'ws-1', transport: 'ws' },
    });
    contract.expectValid(answer);
    socket.close();
  });

  it('the deprecated `event` still names the kind; `type` and `event` that disagree are refused', async () => {
    const socket = await open('', { 'x-api-key': tenantA.api_key });
    const answer = next(socket);
    socket.send(JSON.stringify({ event: 'whoami', data: { request_id: 'ws-2' } }));
    expect(await answer).toEqual({
      type: 'whoami',
      data: { tenant_id: tenantA.id, request_id: 'ws-2', transport: 'ws' },
    });
    const refused = next(socket);
    socket.send(JSON.stringify({ type: 'whoami', event: 'subscribe' }));
    expect((await refused)?.type).toBe('error');
    contract.expectValid(await answer, await refused);
    socket.close();
  });

  it('hello is the first frame: an answer, an error or a push sent before it waits for it', async () => {
    const admin = await platformAdmin(t);
    const tenant = await createTenant(t, admin);
    // The feed of a new tenant starts once its current seq is read: held here until released.
    const feeds = t.app.get(TenantFeeds);
    const currentSeq = feeds.currentSeq.bind(feeds);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const spy = jest.spyOn(feeds, 'currentSeq').mockImplementation(async (tenantId) => {
      await released;
      return currentSeq(tenantId);
    });
    const heldSoFar = async () =>
      (await realtimeMetrics.wsHeldBeforeHello.get()).values.reduce((sum, v) => sum + v.value, 0);
    const heldBefore = await heldSoFar();
    try {
      const socket = new WebSocket(wsUrl, { headers: { 'x-api-key': tenant.api_key } });
      const frames: Message[] = [];
      socket.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString()) as Message));
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'whoami', data: { request_id: 'early' } }));
      socket.send('not json {');
      socket.send(JSON.stringify({ type: 'subscribe', data: { event_types: ['early.push'] } }));
      const pushed = { type: 'event', data: { event_type: 'early.push', seq: null } };
      expect(t.app.get(RealtimeGateway).sendToTenant(tenant.id, pushed)).toBe(1);
      // Three answers exist now: held for hello, or (the fault this guards) already on the wire.
      const answered = await eventually(
        async () => (await heldSoFar()) - heldBefore + frames.length,
        (n) => n >= 3,
        10_000,
        20,
      );
      expect(answered).toBeGreaterThanOrEqual(3);
      release();
      await eventually(
        () => Promise.resolve(frames.length),
        (n) => n >= 5,
        10_000,
        20,
      );
      const kinds = frames.map((f) => f.type);
      console.log(`before hello: ${answered} answers held; then ${kinds.join(', ')}`);
      expect(kinds[0]).toBe('hello');
      expect(frames).toContainEqual({
        type: 'whoami',
        data: { tenant_id: tenant.id, request_id: 'early', transport: 'ws' },
      });
      expect(frames).toContainEqual(pushed);
      expect(kinds.filter((k) => k === 'error')).toHaveLength(1);
      expect(kinds).toContain('subscribed');
      // What the gateway sent conforms (the push is this test's own, not an event).
      contract.expectValid(
        ...frames.filter((frame) => frame !== frames.find((f) => f.type === 'event')),
      );
      socket.close();
    } finally {
      release();
      spy.mockRestore();
    }
  });

  it('the AsyncAPI document describes the channel and every message, both ways', async () => {
    const doc = (await request(t.url).get('/docs/asyncapi.json')).body as {
      asyncapi: string;
      channels: Record<string, { address: string }>;
      components: { messages: Record<string, { examples: Array<{ payload: unknown }> }> };
    };
    expect(doc.asyncapi).toBe('3.0.0');
    expect(Object.values(doc.channels).map((c) => c.address)).toEqual(['/api/v1/ws']);
    expect(contract.kinds).toEqual([
      'receive:subscribe',
      'receive:whoami',
      'send:error',
      'send:event',
      'send:gap',
      'send:hello',
      'send:subscribed',
      'send:whoami',
    ]);
    // Each message's examples match its own schema; a client frame using the deprecated alias too.
    for (const [name, message] of Object.entries(doc.components.messages)) {
      const direction = name === 'subscribe' || name === 'whoami' ? 'receive' : 'send';
      for (const { payload } of message.examples)
        expect([name, contract.problems(payload, direction)]).toEqual([name, []]);
    }
    expect(contract.problems({ type: 'subscribe', event: 'subscribe' }, 'receive')).toEqual([]);
    expect(contract.problems({ type: 'hello', data: { seq: -1 } })).not.toEqual([]);
  });

  it("a session's socket runs in the member's tenant", async () => {
    const socket = await open('', { authorization: memberB.bearer });
    expect((await whoami(socket))?.data.tenant_id).toBe(tenantB.id);
    socket.close();
  });

  it('refuses at the upgrade: an unknown key, an ended session, another tenant chosen with a key', async () => {
    await expect(open('', { 'x-api-key': 'tsk_not-a-real-key' })).rejects.toThrow('HTTP 401');
    await expect(
      open(`?tenant_id=${tenantB.id}`, { 'x-api-key': tenantA.api_key }),
    ).rejects.toThrow('HTTP 403');
    const ended = await tenantMember(t, tenantB.id, 'user');
    expect(
      (await request(t.url).post('/api/v1/auth/logout').set('Authorization', ended.bearer)).status,
    ).toBe(204);
    await expect(open('', { authorization: ended.bearer })).rejects.toThrow('HTTP 401');
  });

  it("a push to one tenant reaches that tenant's sockets only", async () => {
    const [a, b] = await Promise.all([
      open('', { 'x-api-key': tenantA.api_key }),
      open('', { 'x-api-key': tenantB.api_key }),
    ]);
    // Each tenant's own lifecycle facts (a logout above, say) may reach its socket meanwhile:
    // what matters is where the pushed message goes.
    const pushed = { type: 'event', data: { n: 1 } };
    const seen = (socket: WebSocket, ms: number) =>
      new Promise<Message[]>((resolve) => {
        const messages: Message[] = [];
        const take = (raw: Buffer) => messages.push(JSON.parse(raw.toString()) as Message);
        socket.on('message', take);
        setTimeout(() => {
          socket.off('message', take);
          resolve(messages);
        }, ms);
      });
    const atA = seen(a, 1_000);
    const atB = seen(b, 1_000);
    const sent = t.app.get(RealtimeGateway).sendToTenant(tenantA.id, pushed);
    expect(sent).toBe(1);
    expect(await atA).toContainEqual(pushed);
    const toB = await atB;
    expect(toB).not.toContainEqual(pushed);
    for (const message of toB) {
      const tenantOf = message.data?.tenant_id;
      expect(tenantOf).toBe(tenantB.id);
    }
    a.close();
    b.close();
  });
});
