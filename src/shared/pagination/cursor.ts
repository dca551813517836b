import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import { z } from 'zod';
import { commonError } from '../errors';
import { badStringReason } from '../validation';

/** A page of a list, as every list route answers it. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * One cursor codec for every keyset-paginated list: a cursor is the base64url JSON of a tuple
 * (the sort key and the id), validated in full on the way back in, so a forged or truncated
 * cursor is a 400 and never reaches SQL.
 */
export interface CursorCodec<T extends readonly unknown[]> {
  encode(values: T): string;
  /** The decoded tuple; throws a 400 (`COMMON.INVALID_CURSOR`) for anything else. */
  decode(cursor: string): T;
}

export function cursorCodec<S extends z.ZodTuple>(schema: S): CursorCodec<z.output<S>> {
  return {
    encode: (values) => Buffer.from(JSON.stringify(values)).toString('base64url'),
    decode: (cursor) => {
      let raw: unknown;
      try {
        raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      } catch {
        raw = undefined;
      }
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        throw commonError(
          'COMMON.INVALID_CURSOR',
          'Invalid cursor: pass next_cursor from the previous page',
          [{ field: 'cursor', message: 'not a cursor this list issued' }],
        );
      }
      return parsed.data;
    },
  };
}

// The instants PostgreSQL's timestamptz holds from year 1 on (its last is 294276-12-31).
const INSTANT = /^(\d{4,6})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?Z$/;
const MAX_YEAR = 294276;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const PG_BIGINT_MAX = 9223372036854775807n;

/** True for a UTC instant PostgreSQL can cast exactly (no 22008 out of range, no 30 February). */
export function isCursorInstant(value: string): boolean {
  const match = INSTANT.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  if (year < 1 || year > MAX_YEAR || month < 1 || month > 12) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS[month - 1];
  return day >= 1 && day <= days && hour <= 23 && minute <= 59 && second <= 59;
}

/** No U+0000 and no lone surrogate: text PostgreSQL can take as a parameter. */
const isCleanText = (value: string) => badStringReason(value) === null;

/** Parts cursors are made of. */
export const cursorParts = {
  /**
   * A UTC instant with up to six fractional digits, years 0001 to 294276: what
   * {@link cursorInstantSql} writes (every microsecond kept, so rows tied to the millisecond
   * page apart), and what `Date.toISOString()` writes for years 0001–9999.
   */
  instant: z.string().max(32).refine(isCursorInstant),
  uuid: z.uuid(),
  /** A bigint sort key (a sequence) within PostgreSQL's bigint, carried as a decimal string. */
  bigint: z.string().refine((value) => /^\d{1,19}$/.test(value) && BigInt(value) <= PG_BIGINT_MAX),
  text: z.string().min(1).max(200).refine(isCleanText),
};

/**
 * SQL that reads a timestamptz column as a cursor instant: UTC, all six fractional digits. A
 * cursor must carry the sort key exactly as PostgreSQL keeps it; `Date` keeps milliseconds, and
 * rows a cut to the millisecond ties are skipped. Compare back in SQL with `$n::timestamptz`.
 */
export function cursorInstantSql(column: string): string {
  return `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** The alias {@link withCursorInstant} selects the instant under. */
export const CURSOR_INSTANT = 'cursor_at';

/**
 * Runs a keyset query and pairs each entity with its sort instant read by
 * {@link cursorInstantSql} (the query must join nothing: one raw row per entity).
 */
export async function withCursorInstant<E extends ObjectLiteral>(
  query: SelectQueryBuilder<E>,
  column: string,
): Promise<Array<{ row: E; at: string }>> {
  const { entities, raw } = await query
    .addSelect(cursorInstantSql(column), CURSOR_INSTANT)
    .getRawAndEntities<Record<typeof CURSOR_INSTANT, string>>();
  if (entities.length !== raw.length) throw new Error('A keyset query returned joined rows');
  return entities.map((row, i) => ({ row, at: raw[i][CURSOR_INSTANT] }));
}

/** Takes `limit + 1` rows, answers `limit` of them and the cursor of the last when more exist. */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  view: (row: R) => T,
  cursorOf: (row: R) => string,
): Page<T> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    data: page.map(view),
    next_cursor: rows.length > limit && last !== undefined ? cursorOf(last) : null,
  };
}
