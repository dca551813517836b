import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { instant as boundedInstant } from '../../../shared/validation';

const latitude = z
  .number({ error: 'expected latitude as a number from -90 to 90' })
  .min(-90, 'expected latitude from -90 to 90')
  .max(90, 'expected latitude from -90 to 90');
const longitude = z
  .number({ error: 'expected longitude as a number from -180 to 180' })
  .min(-180, 'expected longitude from -180 to 180')
  .max(180, 'expected longitude from -180 to 180');
const accuracy = z.number({ error: 'expected accuracy in metres' }).min(0).max(1e6);
/** Instants through the shared parser (year and offset bounds, UTC); the service checks the session's window. */
const point = {
  latitude,
  longitude,
  accuracy: accuracy.nullish(),
  recorded_at: boundedInstant('recorded_at').optional(),
  /** The original system's name for `recorded_at`. */
  timestamp: boundedInstant('timestamp').optional(),
};

/** `timestamp` is the original system's name for `recorded_at`; absent: the time it arrived. */
export class LocationUpdateDto extends createZodDto(
  z
    .object({ session_id: z.uuid({ error: 'expected a session uuid' }), ...point })
    .strict()
    .transform(({ timestamp, ...body }) => ({
      ...body,
      accuracy: body.accuracy ?? null,
      recorded_at: body.recorded_at ?? timestamp,
    })),
) {}

export class LocationBatchDto extends createZodDto(
  z
    .object({
      session_id: z.uuid({ error: 'expected a session uuid' }),
      points: z
        .array(
          z
            .object(point)
            .strict()
            // The same rule in the OpenAPI document.
            .meta({ anyOf: [{ required: ['recorded_at'] }, { required: ['timestamp'] }] })
            .refine((p) => Boolean(p.recorded_at ?? p.timestamp), {
              message: 'expected recorded_at',
              path: ['recorded_at'],
            })
            .transform(({ timestamp, ...p }) => ({
              ...p,
              accuracy: p.accuracy ?? null,
              recorded_at: p.recorded_at ?? timestamp,
            })),
        )
        .min(1, 'expected 1 to 500 points')
        .max(500, 'expected 1 to 500 points'),
    })
    .strict(),
) {}

export class AcceptedDto extends createZodDto(
  z.object({ event_id: z.uuid(), status: z.literal('accepted') }),
) {}
export class BatchAcceptedDto extends createZodDto(
  z.object({ event_ids: z.array(z.uuid()), status: z.literal('accepted') }),
) {}
