import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { instant } from '../../../shared/validation';

export const EVENT_TYPE = /^[A-Za-z0-9_.-]{1,100}$/;
const eventType = z
  .string()
  .regex(EVENT_TYPE, 'event_type: 1–100 characters of letters, digits, `_`, `.` and `-`');
export const eventInputSchema = z
  .object({
    event_type: eventType.optional(),
    /** Synonym of event_type (the original system's name). */
    type: eventType.optional(),
    /** Within EVENTS_TIMESTAMP_MAX_PAST_DAYS / _MAX_FUTURE_SECONDS of now; normalised to UTC. */
    timestamp: instant('timestamp', { window: 'event' }).optional(),
    metadata: z
      .record(z.string(), z.unknown(), { error: 'metadata must be a JSON object' })
      .optional(),
    source: z
      .string()
      // Not blank (the same rule in the document: JavaScript's trim also drops U+FEFF).
      .regex(/[^\s\uFEFF]/, 'source must not be empty')
      .trim()
      .min(1, 'source must not be empty')
      .max(100, 'source is at most 100 characters')
      .optional(),
    event_id: z
      .string()
      .min(1, 'event_id must not be empty')
      .max(200, 'event_id is at most 200 characters')
      .optional(),
    tenant_id: z.string().max(100).optional(),
  })
  // The same rule in the OpenAPI document.
  .meta({
    anyOf: [{ required: ['event_type'] }, { required: ['type'] }],
    example: { event_type: 'order.created', metadata: { order: 42 }, event_id: 'c-1' },
  })
  .refine((body) => body.event_type !== undefined || body.type !== undefined, {
    message: 'event_type is required',
    path: ['event_type'],
  })
  .transform(({ type, ...rest }) => ({ ...rest, event_type: (rest.event_type ?? type)! }));
export type EventInput = z.output<typeof eventInputSchema>;
export class CreateEventDto extends createZodDto(eventInputSchema) {}

export const MAX_BATCH = 500;
export const batchSchema = z
  .object({
    tenant_id: z.string().max(100).optional(),
    events: z
      .array(eventInputSchema)
      .min(1, 'events: at least one event')
      .max(MAX_BATCH, `events: at most ${MAX_BATCH} per batch`),
  })
  .meta({
    example: {
      events: [
        { event_type: 'order.created', metadata: { order: 42 }, event_id: 'c-1' },
        { event_type: 'order.paid', metadata: { order: 42, amount: 1999 }, event_id: 'c-2' },
      ],
    },
  });
export class CreateEventBatchDto extends createZodDto(batchSchema) {}

/** Any instant from year 0001 to 9999 (a range outside the event window simply matches nothing). */
const since = instant('since').optional();
const until = instant('until').optional();

export const listEventsSchema = z
  .object({
    event_type: eventType.optional(),
    type: eventType.optional(),
    source: z.string().min(1).max(100).optional(),
    search: z.string().min(1).max(200).optional(),
    since,
    until,
    cursor: z.string().max(500).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict()
  .transform(({ type, ...rest }) => ({ ...rest, event_type: rest.event_type ?? type }));
export type ListEventsQuery = z.output<typeof listEventsSchema>;
export class ListEventsQueryDto extends createZodDto(listEventsSchema) {}

export const BUCKETS = ['minute', 'hour', 'day'] as const;
export const statsSchema = z
  .object({
    since,
    until,
    bucket: z.enum(BUCKETS, { error: 'bucket must be minute, hour or day' }).default('hour'),
  })
  .strict();
export type StatsQuery = z.output<typeof statsSchema>;
export class EventStatsQueryDto extends createZodDto(statsSchema) {}

export const rateLimitSchema = z
  .object({
    points: z.number().int().min(1).max(10_000_000),
    window_seconds: z.number().int().min(1).max(86_400),
  })
  .strict();
export class EventRateLimitDto extends createZodDto(rateLimitSchema) {}

// No `format: date-time`: an instant past year 9999 is answered in ISO 8601's expanded form.
const instantView = z.string().meta({ description: 'ISO 8601 instant, UTC' });

/** An event as the API answers it and the feed pushes it. */
export const eventViewSchema = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    seq: z.number().int().min(1).meta({ description: "The event's place in its tenant's feed" }),
    event_type: z.string(),
    source: z.string(),
    timestamp: instantView,
    metadata: z.record(z.string(), z.unknown()),
    created_at: instantView,
  })
  .meta({
    example: {
      id: '0d9c7a52-5a8e-4c1f-9d5e-3f1b2c4d5e6f',
      tenant_id: '7f3e1b2a-9c4d-4e5f-8a6b-1c2d3e4f5a6b',
      seq: 42,
      event_type: 'order.created',
      source: 'api',
      timestamp: '2026-12-05T10:00:00.000Z',
      metadata: { order: 42 },
      created_at: '2026-12-05T10:00:00.120Z',
    },
  });
export type EventView = z.infer<typeof eventViewSchema>;
export class EventViewDto extends createZodDto(eventViewSchema) {}

export const eventPageSchema = z.object({
  data: z.array(eventViewSchema),
  next_cursor: z.string().nullable().meta({ description: 'The next page, null on the last' }),
});
export class EventPageDto extends createZodDto(eventPageSchema) {}

export class EventBatchResultDto extends createZodDto(
  z.object({ data: z.array(eventViewSchema).meta({ description: 'In input order' }) }),
) {}

export const eventStatsSchema = z.object({
  total: z.number().int().min(0),
  by_type: z.array(z.object({ event_type: z.string(), count: z.number().int().min(0) })),
  by_time: z.array(z.object({ bucket_start: instantView, count: z.number().int().min(0) })),
});
export type EventStats = z.infer<typeof eventStatsSchema>;
export class EventStatsDto extends createZodDto(eventStatsSchema) {}

/** A tenant's event rate limit: its override, else the default. */
export const rateLimitViewSchema = z.object({
  points: z.number().int().min(1),
  window_seconds: z.number().int().min(1),
  origin: z
    .enum(['default', 'override'])
    .meta({ description: '`override` when a platform admin set the tenant’s own limit' }),
});
export class RateLimitViewDto extends createZodDto(rateLimitViewSchema) {}
