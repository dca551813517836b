import { z } from 'zod';
import { eventViewSchema } from '../events';

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

// ---------------------------------------------------------------------------------------------
// Server → client

const seq = z.number().int().min(0);

export const helloMessageSchema = z
  .object({
    type: z.literal('hello'),
    data: z.object({
      tenant_id: z.string(),
      seq: seq.meta({ description: 'The live stream starts after this seq' }),
    }),
  })
  .meta({
    title: 'hello',
    description: 'Always the first frame: where this socket’s live stream starts',
    examples: [
      { type: 'hello', data: { tenant_id: '7f3e1b2a-9c4d-4e5f-8a6b-1c2d3e4f5a6b', seq: 17 } },
    ],
  });

/** A high-volume fact pushed live only (EVENTS_STORE_* off): no id, no seq, not replayable. */
const liveOnlyEventSchema = eventViewSchema.extend({ id: z.null(), seq: z.null() });

export const eventMessageSchema = z
  .object({
    type: z.literal('event'),
    data: z.union([eventViewSchema, liveOnlyEventSchema]),
    trace_id: z
      .string()
      .optional()
      .meta({ description: 'With tracing on: the trace of the request that stored the event' }),
  })
  .meta({
    title: 'event',
    description: 'One event of the tenant, in seq order (a live-only fact has seq null)',
    examples: [
      {
        type: 'event',
        data: {
          id: '0d9c7a52-5a8e-4c1f-9d5e-3f1b2c4d5e6f',
          tenant_id: '7f3e1b2a-9c4d-4e5f-8a6b-1c2d3e4f5a6b',
          seq: 18,
          event_type: 'order.created',
          source: 'api',
          timestamp: '2026-12-05T10:00:00.000Z',
          metadata: { order: 42 },
          created_at: '2026-12-05T10:00:00.120Z',
        },
      },
    ],
  });

export const subscribedMessageSchema = z
  .object({
    type: z.literal('subscribed'),
    data: z.object({
      event_types: z.array(z.string()).nullable().meta({ description: 'null: every type' }),
      seq: seq.meta({ description: 'Everything up to this seq was replayed or skipped' }),
    }),
  })
  .meta({
    title: 'subscribed',
    description: 'A subscribe took effect (after its replay); live events follow',
    examples: [{ type: 'subscribed', data: { event_types: ['order.created'], seq: 17 } }],
  });

export const gapMessageSchema = z
  .object({
    type: z.literal('gap'),
    data: z.object({ since_seq: seq, seq, replay_max: z.number().int().min(0) }),
  })
  .meta({
    title: 'gap',
    description:
      'since_seq is more than EVENTS_REPLAY_MAX behind: live from seq (read the rest with GET /events)',
    examples: [{ type: 'gap', data: { since_seq: 3, seq: 5000, replay_max: 1000 } }],
  });

export const whoamiAnswerSchema = z
  .object({
    type: z.literal('whoami'),
    data: z.object({
      tenant_id: z.string(),
      request_id: z.string().optional(),
      transport: z.string().optional(),
    }),
  })
  .meta({
    title: 'whoami answer',
    description: 'Who this socket is',
    examples: [
      {
        type: 'whoami',
        data: {
          tenant_id: '7f3e1b2a-9c4d-4e5f-8a6b-1c2d3e4f5a6b',
          request_id: 'ws-1',
          transport: 'ws',
        },
      },
    ],
  });

export const errorMessageSchema = z
  .object({
    type: z.literal('error'),
    data: z
      .object({
        message: z.string(),
        statusCode: z.number().int().optional(),
        error: z.string().optional(),
        code: z.string().optional().meta({ description: 'MODULE.REASON' }),
        details: z.array(z.unknown()).optional(),
        request_id: z.string().optional(),
      })
      .meta({ description: 'The message; a handler error carries the shared error envelope' }),
  })
  .meta({
    title: 'error',
    description:
      'A frame was refused (not JSON, unknown type, invalid data) or failed; the socket stays open',
    examples: [
      { type: 'error', data: { message: 'Unknown type "launch": send subscribe or whoami' } },
    ],
  });
export type ErrorMessage = z.infer<typeof errorMessageSchema>;
export type WhoamiAnswer = z.infer<typeof whoamiAnswerSchema>;

/** Every message, by direction (the server's point of view: it receives and sends). */
export const MESSAGES = {
  receive: { subscribe: subscribeMessageSchema, whoami: whoamiMessageSchema },
  send: {
    hello: helloMessageSchema,
    event: eventMessageSchema,
    subscribed: subscribedMessageSchema,
    gap: gapMessageSchema,
    whoamiAnswer: whoamiAnswerSchema,
    error: errorMessageSchema,
  },
} as const;
