import { z } from 'zod';
import { AppError } from '../errors';
import { cursorCodec, cursorParts, isCursorInstant, toPage } from './cursor';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function refusal(decode: () => unknown): AppError {
  let error: unknown;
  try {
    decode();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('cursorCodec', () => {
  const codec = cursorCodec(z.tuple([cursorParts.instant, cursorParts.uuid]));
  const bySeq = cursorCodec(z.tuple([cursorParts.instant, cursorParts.bigint]));
  const byText = cursorCodec(z.tuple([cursorParts.text, cursorParts.uuid]));
  const id = '0b6f5b8e-2f7c-4a51-9d8e-4d1f2f6b7a10';

  it('round-trips the tuple it encoded', () => {
    const at = new Date('2026-01-02T03:04:05.678Z').toISOString();
    expect(codec.decode(codec.encode([at, id]))).toEqual([at, id]);
  });

  it.each([
    ['microseconds', '2026-01-02T03:04:05.678901Z'],
    ['no fraction', '2026-01-02T03:04:05Z'],
    ['year 0001', '0001-01-01T00:00:00.000000Z'],
    ['year 10000 (five digits, as PostgreSQL writes it)', '10000-12-31T23:59:59.999999Z'],
    ["PostgreSQL's last instant", '294276-12-31T23:59:59.999999Z'],
    ['29 February of a leap year', '2024-02-29T00:00:00Z'],
    ['29 February of a year divisible by 400', '2000-02-29T12:00:00Z'],
  ])('keeps an instant with %s exactly', (_label, at) => {
    expect(codec.decode(codec.encode([at, id]))).toEqual([at, id]);
  });

  it.each([
    ['not base64 json', '%%%'],
    ['a wrong tuple', b64(['1', 'x'])],
    ['too short', b64(['2026-01-02T03:04:05.678Z'])],
    ['an object', b64({ at: 1 })],
    ['empty', ''],
    ['year 0000', b64(['0000-01-01T00:00:00Z', id])],
    ['a year past PostgreSQL', b64(['294277-01-01T00:00:00Z', id])],
    ['a signed year', b64(['+010000-01-01T00:00:00.000Z', id])],
    ['30 February', b64(['2026-02-30T00:00:00Z', id])],
    ['29 February of a common year', b64(['1900-02-29T00:00:00Z', id])],
    ['month 13', b64(['2026-13-01T00:00:00Z', id])],
    ['hour 24', b64(['2026-01-01T24:00:00Z', id])],
    ['a leap second', b64(['2026-01-01T23:59:60Z', id])],
    ['seven fractional digits', b64(['2026-01-01T00:00:00.1234567Z', id])],
    ['an offset', b64(['2026-01-01T00:00:00+02:00', id])],
    ['a number instant', b64([1767225600000, id])],
    [
      'a uuid with a bad variant',
      b64(['2026-01-01T00:00:00Z', 'zzzzzzzz-2f7c-4a51-9d8e-4d1f2f6b7a10']),
    ],
  ])('refuses %s with a 400', (_label, cursor) => {
    const error = refusal(() => codec.decode(cursor));
    expect(error.status).toBe(400);
    expect(error.code).toBe('COMMON.INVALID_CURSOR');
  });

  it("keeps a bigint up to PostgreSQL's largest and refuses one past it", () => {
    const at = '2026-01-02T03:04:05.678901Z';
    expect(bySeq.decode(bySeq.encode([at, '9223372036854775807']))).toEqual([
      at,
      '9223372036854775807',
    ]);
    for (const seq of ['9223372036854775808', '9999999999999999999', '-1', '1.5', '']) {
      expect(refusal(() => bySeq.decode(b64([at, seq]))).code).toBe('COMMON.INVALID_CURSOR');
    }
  });

  it('refuses text PostgreSQL cannot take (NUL, a lone surrogate)', () => {
    expect(byText.decode(byText.encode(['a queue', id]))).toEqual(['a queue', id]);
    for (const text of ['a\u0000b', 'a\ud800', '\udc00b']) {
      expect(refusal(() => byText.decode(b64([text, id]))).code).toBe('COMMON.INVALID_CURSOR');
    }
  });

  it('pages limit rows and points past the last', () => {
    const rows = [1, 2, 3];
    expect(toPage(rows, 2, (n) => n * 10, String)).toEqual({ data: [10, 20], next_cursor: '2' });
    expect(toPage(rows, 3, (n) => n, String)).toEqual({ data: [1, 2, 3], next_cursor: null });
  });
});

describe('isCursorInstant', () => {
  it('agrees with Date on every day of four years around a leap year', () => {
    const start = Date.UTC(2023, 0, 1);
    for (let day = 0; day < 4 * 366; day++) {
      const at = new Date(start + day * 86_400_000).toISOString();
      expect(isCursorInstant(at)).toBe(true);
    }
    expect(isCursorInstant('2023-02-29T00:00:00Z')).toBe(false);
    expect(isCursorInstant('2024-04-31T00:00:00Z')).toBe(false);
  });
});
