import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { SocketClient } from './socket-client';

/** A socket that records what it sent and how it was closed. */
function fakeSocket() {
  const sent: string[] = [];
  const socket = Object.assign(new EventEmitter(), {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    closedWith: undefined as [number, string] | undefined,
    send(data: string) {
      sent.push(data);
    },
    close(code: number, reason: string) {
      socket.closedWith = [code, reason];
      socket.readyState = 2;
    },
    terminate() {},
  });
  return { socket, sent };
}

const principal = { tenantId: 't', isPlatformAdmin: false, via: 'api_key' } as const;

describe('SocketClient: hello first', () => {
  it('holds whatever is sent before hello (its own writes and the socket’s send), then sends it after', async () => {
    const { socket, sent } = fakeSocket();
    const client = new SocketClient(socket as unknown as WebSocket, principal, undefined, 1024);
    expect(client.send({ type: 'error', data: { message: 'early' } })).toBe(true);
    socket.send('{"type":"whoami"}'); // what Nest's adapter and the error filter call
    expect(sent).toEqual([]);
    let greeted = false;
    void client.greeted.then(() => (greeted = true));
    expect(client.greet('{"type":"hello"}')).toBe(true);
    expect(sent).toEqual([
      '{"type":"hello"}',
      '{"type":"error","data":{"message":"early"}}',
      '{"type":"whoami"}',
    ]);
    await Promise.resolve();
    expect(greeted).toBe(true);
    // Once: a second hello is refused; later frames go straight out.
    expect(client.greet('{"type":"hello"}')).toBe(false);
    client.send({ type: 'event' });
    expect(sent.at(-1)).toBe('{"type":"event"}');
  });

  it('more held than the unsent-bytes bound closes the socket with 1013', () => {
    const { socket, sent } = fakeSocket();
    const client = new SocketClient(socket as unknown as WebSocket, principal, undefined, 100);
    client.write('x'.repeat(60));
    expect(socket.closedWith).toBeUndefined();
    client.write('x'.repeat(60));
    expect(socket.closedWith?.[0]).toBe(1013);
    expect(client.greet('{"type":"hello"}')).toBe(false);
    expect(sent).toEqual([]);
  });
});
