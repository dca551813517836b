import fc from 'fast-check';
import { z } from 'zod';
import { configureInstantWindows, instant, outsideWindow, parseInstant } from './instant';
import { findBadString } from './json-strings';

const iso = (text: string) => {
  const parsed = parseInstant(text);
  return parsed.ok ? parsed.value.iso : `refused: ${parsed.reason}`;
};

describe('parseInstant', () => {
  it('normalises any offset to UTC and keeps microseconds', () => {
    expect(iso('2026-01-02T03:04:05.678+02:00')).toBe('2026-01-02T01:04:05.678Z');
    expect(iso('2026-01-02 03:04:05z')).toBe('2026-01-02T03:04:05.000Z');
    expect(iso('2026-01-02T03:04:05.123456789-15:59')).toBe('2026-01-02T19:03:05.123456Z');
    expect(iso('0001-01-01T00:00:00Z')).toBe('0001-01-01T00:00:00.000Z');
    expect(iso('0099-03-01T00:00:00Z')).toBe('0099-03-01T00:00:00.000Z');
    expect(iso('2024-02-29T23:59:59Z')).toBe('2024-02-29T23:59:59.000Z');
  });

  it.each([
    ['year 0000', '0000-01-01T00:00:00Z'],
    ['an offset beyond 15:59', '2026-01-01T00:00:00+23:00'],
    ['an offset of 16:00', '2026-01-01T00:00:00-16:00'],
    ['year 10000 once in UTC', '9999-12-31T23:59:59-15:00'],
    ['before year 0001 once in UTC', '0001-01-01T00:00:00+01:00'],
    ['30 February', '2026-02-30T00:00:00Z'],
    ['29 February of a common year', '2100-02-29T00:00:00Z'],
    ['hour 24', '2026-01-01T24:00:00Z'],
    ['a leap second', '2026-12-31T23:59:60Z'],
    ['no offset', '2026-01-01T00:00:00'],
    ['a date alone', '2026-01-01'],
    ['another format', '02/01/2026'],
  ])('refuses %s', (_label, text) => {
    expect(parseInstant(text).ok).toBe(false);
  });

  it('agrees with Date.parse on every instant it accepts (fixed seed)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('0001-01-02T00:00:00Z'), max: new Date('9999-12-30T00:00:00Z') }),
        fc.integer({ min: -959, max: 959 }),
        (date, offset) => {
          const shifted = new Date(date.getTime() + offset * 60_000).toISOString();
          const sign = offset < 0 ? '-' : '+';
          const abs = Math.abs(offset);
          const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
          const text = `${shifted.slice(0, 23)}${zone}`;
          const parsed = parseInstant(text);
          expect(parsed.ok && parsed.value.iso).toBe(date.toISOString());
        },
      ),
      { seed: 20261204, numRuns: 500 },
    );
  });
});

describe('instant windows', () => {
  it('refuses an instant outside the configured window and names the field', () => {
    configureInstantWindows({ event: { maxPastMs: 86_400_000, maxFutureMs: 300_000 } });
    const schema = z.object({ timestamp: instant('timestamp', { window: 'event' }) });
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const result = schema.safeParse({ timestamp: future });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['timestamp'],
      message: 'timestamp must not be more than 5 minutes in the future',
    });
    const now = new Date().toISOString();
    expect(schema.parse({ timestamp: now })).toEqual({ timestamp: now });
    expect(outsideWindow(0, { maxPastMs: 86_400_000, maxFutureMs: 0 })).toBe(
      'must not be more than 1 day in the past',
    );
  });
});

describe('findBadString', () => {
  it('names the first value or key holding U+0000 or a lone surrogate', () => {
    expect(findBadString({ a: 'ok', b: [{ c: 'x\u0000' }] })).toEqual({
      field: 'b.0.c',
      message: 'must not contain U+0000',
    });
    expect(findBadString(JSON.parse('{"m":{"\\ud800":1}}'))).toEqual({
      field: 'm',
      message: 'a key must not contain a lone UTF-16 surrogate',
    });
    expect(findBadString(JSON.parse('"\\udc00"'))).toEqual({
      field: '(body)',
      message: 'must not contain a lone UTF-16 surrogate',
    });
    expect(findBadString({ emoji: '😀', text: 'é' })).toBeNull();
  });

  it('walks a deeply nested value without exhausting the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}"\\u0000"${']'.repeat(100_000)}`) as unknown;
    expect(findBadString(deep)?.message).toBe('must not contain U+0000');
  });
});
