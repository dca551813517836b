import { stdSerializers } from 'pino';

const REDACTED = '[redacted]';
/**
 * Fields of database errors that carry row values: TypeORM's `parameters` (the statement's bound
 * values) and PostgreSQL's `detail` ("Key (email)=(…) already exists", "Failing row contains (…)").
 * The SQL text, code, table, column and constraint stay: they say what failed without the data.
 */
const VALUE_FIELDS = new Set(['parameters', 'detail']);
/** A data exception (SQLSTATE class 22) quotes the input at the end of its message: `…: "value"`. */
const QUOTED_INPUT = /: ".*"$/gm;
const MAX_DEPTH = 6;

function isDataException(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > MAX_DEPTH) return false;
  const { code, cause, driverError } = error as {
    code?: unknown;
    cause?: unknown;
    driverError?: unknown;
  };
  if (typeof code === 'string' && code.startsWith('22')) return true;
  return isDataException(cause, depth + 1) || isDataException(driverError, depth + 1);
}

function redactValues(value: unknown, quoted: boolean, depth: number): unknown {
  if (!value || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => redactValues(item, quoted, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (VALUE_FIELDS.has(key) && item !== undefined) copy[key] = REDACTED;
    else if (quoted && (key === 'message' || key === 'stack') && typeof item === 'string') {
      copy[key] = item.replace(QUOTED_INPUT, `: "${REDACTED}"`);
    } else copy[key] = redactValues(item, quoted, depth + 1);
  }
  return copy;
}

/**
 * pino's error serializer, minus tenant data: the bound parameters and row values a failed
 * statement carries, at any depth (a TypeORM error holds the driver's error), and the input a
 * data exception quotes in its messages and stacks.
 */
export function serializeError(error: unknown): unknown {
  const serialized = stdSerializers.err(error as Error) as unknown;
  if (!serialized || typeof serialized !== 'object') return serialized;
  // A fresh object of pino's (its hidden `raw` kept); what it references is copied, never changed.
  const out = serialized as Record<string, unknown>;
  const redacted = redactValues(out, isDataException(error), 0) as Record<string, unknown>;
  for (const key of Object.keys(out)) out[key] = redacted[key];
  return out;
}
