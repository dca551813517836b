import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

const duration = z
  .number({ error: 'expected a number of seconds' })
  .int('expected a whole number of seconds')
  .min(60, 'expected at least 60 seconds')
  .max(86_400, 'expected at most 86400 seconds (24 h)');

/**
 * `duration` is the original system's name for `duration_seconds`. The body may be absent; a
 * JSON `null` is not an object and is refused like any other non-object.
 */
export class StartSessionDto extends createZodDto(
  z.preprocess(
    (body) => (body === undefined ? {} : body),
    z
      .object({
        duration_seconds: duration.optional(),
        duration: duration.optional(),
        device_info: z
          .record(z.string(), z.unknown())
          .refine((value) => JSON.stringify(value).length <= 4096, 'expected at most 4 KB')
          .optional(),
      })
      .strict()
      .transform(({ duration: alias, ...body }) => ({
        duration_seconds: body.duration_seconds ?? alias ?? 600,
        device_info: body.device_info ?? null,
      })),
  ),
) {}

export const sessionStatus = z.enum(['active', 'ended', 'expired', 'cancelled']);

export const sessionView = z.object({
  id: z.uuid(),
  user_id: z.string(),
  status: sessionStatus,
  started_at: z.string(),
  expires_at: z.string(),
  ended_at: z.string().nullable(),
  duration_seconds: z.number().int(),
  device_info: z.record(z.string(), z.unknown()).nullable(),
});
export type SessionView = z.infer<typeof sessionView>;
export class SessionDto extends createZodDto(sessionView) {}

export class SessionListDto extends createZodDto(
  z.object({ data: z.array(sessionView), next_cursor: z.string().nullable() }),
) {}

export class ListSessionsQueryDto extends createZodDto(
  z.object({
    status: sessionStatus.optional(),
    user_id: z.string().min(1).max(200).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(300).optional(),
  }),
) {}

export class ListLocationsQueryDto extends createZodDto(
  z.object({
    order: z.enum(['asc', 'desc']).default('asc'),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(300).optional(),
  }),
) {}

export const locationView = z.object({
  event_id: z.uuid(),
  session_id: z.uuid(),
  user_id: z.string(),
  latitude: z.number(),
  longitude: z.number(),
  accuracy: z.number().nullable(),
  recorded_at: z.string(),
  received_at: z.string(),
});
export class LocationListDto extends createZodDto(
  z.object({ data: z.array(locationView), next_cursor: z.string().nullable() }),
) {}
