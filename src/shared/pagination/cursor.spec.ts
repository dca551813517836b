import { z } from 'zod';
import { AppError } from '../errors';
import { cursorCodec, cursorParts, toPage } from './cursor';

describe('cursorCodec', () => {
  const codec = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));
  const id = '0b6f5b8e-2f7c-4a51-9d8e-4d1f2f6b7a10';

  it('round-trips the tuple it encoded', () => {
    const at = new Date('2026-01-02T03:04:05.678Z').toISOString();
    expect(codec.decode(codec.encode([at, id]))).toEqual([at, id]);
  });

  it.each([
    ['not base64 json', '%%%'],
    ['a wrong tuple', Buffer.from(JSON.stringify(['1', 'x'])).toString('base64url')],
    ['too short', Buffer.from(JSON.stringify(['2026-01-02T03:04:05.678Z'])).toString('base64url')],
    ['an object', Buffer.from(JSON.stringify({ at: 1 })).toString('base64url')],
    ['empty', ''],
  ])('refuses %s with a 400', (_label, cursor) => {
    let error: unknown;
    try {
      codec.decode(cursor);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(400);
    expect((error as AppError).code).toBe('COMMON.INVALID_CURSOR');
  });

  it('pages limit rows and points past the last', () => {
    const rows = [1, 2, 3];
    expect(toPage(rows, 2, (n) => n * 10, String)).toEqual({ data: [10, 20], next_cursor: '2' });
    expect(toPage(rows, 3, (n) => n, String)).toEqual({ data: [1, 2, 3], next_cursor: null });
  });
});
