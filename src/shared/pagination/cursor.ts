import { z } from 'zod';
import { commonError } from '../errors';

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

/** Parts cursors are made of. */
export const cursorParts = {
  /** An ISO 8601 instant (what `Date.toISOString()` writes). */
  instant: z.iso.datetime({ offset: true }),
  uuid: z.uuid(),
  /** A bigint sort key (a sequence), carried as a decimal string. */
  bigint: z.string().regex(/^\d{1,19}$/),
  text: z.string().min(1).max(200),
};

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
