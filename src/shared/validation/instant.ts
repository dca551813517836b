import { z } from 'zod';

/**
 * The one parser of instants the API takes (bodies and query strings): an RFC 3339 date-time with
 * a real calendar date and time, a year from 0001 to 9999 both as written and in UTC, and an offset
 * of at most ±15:59 (what PostgreSQL's timestamptz takes; RFC 3339's grammar allows ±23:59). The
 * result is normalised to UTC (`…Z`), keeping up to microseconds (PostgreSQL's precision), so every
 * module stores and compares the same text for the same instant.
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: what both JavaScript and PostgreSQL write back as ISO text. */
const MIN_MS = -62_135_596_800_000;
const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export interface ParsedInstant {
  /** Milliseconds since the epoch (sub-millisecond digits are in `iso`). */
  ms: number;
  /** The same instant in UTC, `YYYY-MM-DDTHH:MM:SS(.fff|.ffffff)Z`. */
  iso: string;
}

export type InstantResult = { ok: true; value: ParsedInstant } | { ok: false; reason: string };

/** Parses one instant; never throws. */
export function parseInstant(text: string): InstantResult {
  const m = RFC3339.exec(text);
  if (!m) return { ok: false, reason: 'not an RFC 3339 date-time' };
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (year < 1) return { ok: false, reason: 'the year must be from 0001 to 9999' };
  if (month < 1 || month > 12) return { ok: false, reason: 'no such month' };
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year, month, 0); // day 0 of the next month (years below 100 as written)
  if (day < 1 || day > lastDay.getUTCDate()) return { ok: false, reason: 'no such day' };
  if (hour > 23 || minute > 59 || second > 59) return { ok: false, reason: 'no such time' };
  let offsetMinutes = 0;
  if (!m[8]) {
    const [offHours, offMinutes] = [Number(m[10]), Number(m[11])];
    if (offHours > 15 || offMinutes > 59) {
      return { ok: false, reason: 'the offset must be from -15:59 to +15:59' };
    }
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offHours * 60 + offMinutes);
  }
  const fraction = m[7] ?? '';
  const local = new Date(0);
  local.setUTCFullYear(year, month - 1, day); // setUTCFullYear keeps years below 100 as written
  local.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, '0')));
  const ms = local.getTime() - offsetMinutes * 60_000;
  if (ms < MIN_MS || ms > MAX_MS) {
    return { ok: false, reason: 'the instant in UTC must be from year 0001 to 9999' };
  }
  const iso = new Date(ms).toISOString();
  const micros = fraction.slice(3, 6);
  return {
    ok: true,
    value: { ms, iso: micros ? iso.replace('Z', `${micros.padEnd(3, '0')}Z`) : iso },
  };
}

/** How far before and after now an instant may be (milliseconds; Infinity: no bound that side). */
export interface InstantWindow {
  maxPastMs: number;
  maxFutureMs: number;
}

/**
 * Windows around now by name, set once at start from the operator's configuration
 * (`configureInstantWindows`); a name never configured has no window, only the year range.
 */
export type InstantWindowName = 'event';
const windows = new Map<InstantWindowName, InstantWindow>();

export function configureInstantWindows(
  settings: Partial<Record<InstantWindowName, InstantWindow>>,
): void {
  for (const [name, window] of Object.entries(settings)) {
    windows.set(name as InstantWindowName, window);
  }
}

export function instantWindow(name: InstantWindowName): InstantWindow | undefined {
  return windows.get(name);
}

/** `5 minutes`, `3650 days`: a window bound as people read it. */
export function describeSpan(ms: number): string {
  const units: Array<[number, string]> = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1_000, 'second'],
  ];
  for (const [size, unit] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}${ms === size ? '' : 's'}`;
  }
  return `${ms} ms`;
}

/** Checks `ms` against a window around `now`; the reason when outside. */
export function outsideWindow(ms: number, window: InstantWindow, now = Date.now()): string | null {
  if (ms > now + window.maxFutureMs) {
    return `must not be more than ${describeSpan(window.maxFutureMs)} in the future`;
  }
  if (ms < now - window.maxPastMs) {
    return `must not be more than ${describeSpan(window.maxPastMs)} in the past`;
  }
  return null;
}

/**
 * A zod field for an instant: parsed by `parseInstant`, checked against the named window when one
 * is given and configured, and handed on as the normalised UTC text. Refusals are 400
 * COMMON.VALIDATION naming the field (the global pipe's answer).
 */
export function instant(field: string, options: { window?: InstantWindowName } = {}) {
  return z
    .string()
    .meta({ format: 'date-time' })
    .transform((text, ctx) => {
      const parsed = parseInstant(text);
      if (!parsed.ok) {
        ctx.addIssue({
          code: 'custom',
          message: `${field} must be an RFC 3339 date-time (e.g. 2026-01-02T03:04:05Z or …+02:00): ${parsed.reason}`,
        });
        return z.NEVER;
      }
      const window = options.window ? windows.get(options.window) : undefined;
      const outside = window ? outsideWindow(parsed.value.ms, window) : null;
      if (outside) {
        ctx.addIssue({ code: 'custom', message: `${field} ${outside}` });
        return z.NEVER;
      }
      return parsed.value.iso;
    });
}
