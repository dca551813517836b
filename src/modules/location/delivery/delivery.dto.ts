import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

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
    })
    .strict(),
) {}

export const deliveryView = z.object({
  endpoint_url: z.string().nullable(),
  enabled: z.boolean(),
  signing: z.boolean(),
  source: z.enum(['tenant', 'operator']),
  /** Shown once, when it was just made. */
  signing_secret: z.string().optional(),
});
export type DeliveryView = z.infer<typeof deliveryView>;
export class DeliveryDto extends createZodDto(deliveryView) {}
