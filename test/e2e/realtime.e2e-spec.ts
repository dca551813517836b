import request from 'supertest';
import WebSocket from 'ws';
import { RealtimeGateway } from '../../src/modules/realtime';
import { createTestApp, type TestApp } from '../support/app';
import { createTenant, type Identity, platformAdmin, tenantMember } from '../support/identities';

type Message = { type: string; data: Record<string, unknown> };

/** The WebSocket gateway with the real credentials: API keys and Cognito sessions. */
describe('WebSocket /api/v1/ws with real credentials', () => {
  let t: TestApp;
  let wsUrl: string;
  let tenantA: { id: string; api_key: string };
  let tenantB: { id: string; api_key: string };
  let memberB: Identity;

  const open = (query = '', headers: Record<string, string> = {}) =>
    new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(`${wsUrl}${query}`, { headers });
      // The first frame is always hello: {tenant_id, seq}.
      socket.once('message', (raw: Buffer) => {
        const hello = JSON.parse(raw.toString()) as Message;
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
    socket.send(JSON.stringify({ event: 'whoami', data: { request_id: 'ws-1' } }));
    return answer;
  };

  beforeAll(async () => {
    t = await createTestApp();
    wsUrl = t.url.replace('http', 'ws') + '/api/v1/ws';
    const admin = await platformAdmin(t);
    tenantA = await createTenant(t, admin);
    tenantB = await createTenant(t, admin);
    memberB = await tenantMember(t, tenantB.id, 'user');
  });
  afterAll(() => t.close());

  it("an API key's socket runs in the key's tenant", async () => {
    const socket = await open('', { 'x-api-key': tenantA.api_key });
    expect(await whoami(socket)).toEqual({
      type: 'whoami',
      data: { tenant_id: tenantA.id, request_id: 'ws-1', transport: 'ws' },
    });
    socket.close();
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
