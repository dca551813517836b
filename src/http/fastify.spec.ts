import type { IncomingMessage } from 'node:http';
import { requestIdOf } from './fastify';

const req = (id?: string) =>
  ({ headers: id === undefined ? {} : { 'x-request-id': id } }) as IncomingMessage;

describe('requestIdOf', () => {
  it('echoes a well-formed X-Request-ID', () => {
    expect(requestIdOf(req('abc-123_x.y:z'))).toBe('abc-123_x.y:z');
  });

  it('makes a new id for a missing, oversized or odd one', () => {
    for (const sent of [undefined, 'x'.repeat(129), 'has space', 'new\nline']) {
      expect(requestIdOf(req(sent))).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});
