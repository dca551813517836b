import { z } from 'zod';

/**
 * The messages of `/api/v1/ws`, both ways: `{"type": <kind>, "data": {…}}`. The gateway parses
 * client frames with these schemas and the AsyncAPI document (GET /docs/asyncapi.json) is
 * generated from them, so the two cannot drift.
 */

const EVENT_TYPE = /^[A-Za-z0-9_.-]{1,100}$/;
export const CLIENT_KINDS = ['subscribe', 'whoami'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** `event`: the older name of `type`, still accepted from clients. */
const eventAlias = (kind: ClientKind) =>
  z
    .literal(kind)
    .optional()
    .meta({ deprecated: true, description: 'Deprecated alias of `type` (accepted, never sent)' });

export const subscribeDataSchema = z
  .object({
    event_types: z
      .array(z.string().regex(EVENT_TYPE))
      .max(100)
      .optional()
      .meta({ description: 'Only these event types (none or empty: every type)' }),
    since_seq: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'Replay the stored events after this seq first (the last seq seen)' }),
  })
  .strict();

export const subscribeMessageSchema = z
  .object({
    type: z.literal('subscribe'),
    event: eventAlias('subscribe'),
    data: subscribeDataSchema.optional(),
  })
  .meta({
    title: 'subscribe',
    description: 'Narrows the event types and, with since_seq, replays what was missed',
    examples: [{ type: 'subscribe', data: { event_types: ['order.created'], since_seq: 41 } }],
  });

export const whoamiMessageSchema = z
  .object({
    type: z.literal('whoami'),
    event: eventAlias('whoami'),
    data: z
      .object({
        request_id: z
          .string()
          .optional()
          .meta({ description: 'Echoed in the answer (first 128 characters)' }),
      })
      .optional(),
  })
  .meta({
    title: 'whoami',
    description: 'Asks who this socket is',
    examples: [{ type: 'whoami', data: { request_id: 'ws-1' } }],
  });

export const clientMessageSchema = z.discriminatedUnion('type', [
  subscribeMessageSchema,
  whoamiMessageSchema,
]);
export type ClientMessage = z.output<typeof clientMessageSchema>;

/**
 * A client frame, parsed: its kind from `type` (or the deprecated `event`), then the schema of
 * that kind. `error` is the message an error frame answers.
 */
export function parseClientMessage(
  frame: unknown,
): { ok: true; message: ClientMessage } | { ok: false; error: string } {
  if (!frame || typeof frame !== 'object' || Array.isArray(frame))
    return {
      ok: false,
      error: 'Frames are JSON text: {"type": "subscribe" | "whoami", "data": {…}}',
    };
  const { type, event } = frame as { type?: unknown; event?: unknown };
  if (type !== undefined && event !== undefined && type !== event)
    return { ok: false, error: '"type" and "event" (its deprecated alias) disagree: send "type"' };
  const kind = type ?? event;
  if (!CLIENT_KINDS.includes(kind as ClientKind))
    return { ok: false, error: `Unknown type ${JSON.stringify(kind)}: send subscribe or whoami` };
  const parsed = clientMessageSchema.safeParse({ ...frame, type: kind });
  if (parsed.success) return { ok: true, message: parsed.data };
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'data'}: ${i.message}`);
  return { ok: false, error: `Invalid ${String(kind)}: ${issues.join('; ')}` };
}

/**
 * The WsAdapter's message parser: `{event, data}` of a valid client frame, for Nest's routing
 * (text frames arrive as strings; a binary frame is never a message).
 */
export function routeClientFrame(raw: unknown): { event: string; data: unknown } | undefined {
  if (typeof raw !== 'string') return undefined;
  let frame: unknown;
  try {
    frame = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = parseClientMessage(frame);
  return parsed.ok ? { event: parsed.message.type, data: parsed.message.data } : undefined;
}
