import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

/** Updates per POST and the wait for more: an array of updates instead of one per request. */
const batchSettings = z
  .object({
    max_items: z
      .number({ error: 'expected max_items, a whole number from 2 to 500' })
      .int('expected a whole number')
      .min(2, 'expected 2 or more (null turns batching off)')
      .max(500, 'expected at most 500'),
    linger_ms: z
      .number({ error: 'expected linger_ms, a whole number from 0 to 1000' })
      .int('expected a whole number')
      .min(0, 'expected 0 or more')
      .max(1_000, 'expected at most 1000')
      .default(0),
  })
  .strict();

export class PutDeliveryDto extends createZodDto(
  z
    .object({
      endpoint_url: z
        .string({ error: 'expected endpoint_url (an https:// URL)' })
        .min(1)
        .max(2048)
        .nullable(),
      enabled: z.boolean().optional(),
      rotate_signing_secret: z.boolean().optional(),
      /** Batched delivery to this endpoint (null: one update per POST; absent: unchanged). */
      batch: batchSettings.nullable().optional(),
    })
    .strict(),
) {}

export const deliveryView = z.object({
  endpoint_url: z.string().nullable(),
  enabled: z.boolean(),
  signing: z.boolean(),
  source: z.enum(['tenant', 'operator']),
  /** Updates per POST at most and the wait for more; null: one update per POST. */
  batch: z.object({ max_items: z.number().int(), linger_ms: z.number().int() }).nullable(),
  /** Shown once, when it was just made. */
  signing_secret: z.string().optional(),
});
export type DeliveryView = z.infer<typeof deliveryView>;
export class DeliveryDto extends createZodDto(deliveryView) {}
