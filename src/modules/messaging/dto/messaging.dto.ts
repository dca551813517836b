import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

export const queueName = z
  .string({ error: 'expected a queue name' })
  .regex(/^[a-z0-9_-]{1,64}$/, 'expected 1–64 characters of a-z, 0-9, _ and -');

const workers = z
  .number({ error: 'expected a whole number from 1 to 50' })
  .int('expected a whole number from 1 to 50')
  .min(1, 'expected a whole number from 1 to 50')
  .max(50, 'expected a whole number from 1 to 50');

/** PostgreSQL's jsonb cannot hold U+0000: refused with a 400 here instead of a 500 at the insert. */
const NO_NUL = 'payload must not contain U+0000 (in a string or a key)';
const anyJson = z
  .json({ error: 'expected JSON' })
  .refine((value) => !JSON.stringify(value).includes('\\u0000'), NO_NUL);

/** `payload` (alias `message_body`), optional queue and tenant. */
export class PublishMessageDto extends createZodDto(
  z
    .object({
      payload: anyJson.optional(),
      message_body: anyJson.optional(),
      queue_name: queueName.default('default'),
      tenant_id: z.uuid().optional(),
    })
    // The same rule in the OpenAPI document.
    .meta({ anyOf: [{ required: ['payload'] }, { required: ['message_body'] }] })
    .refine((body) => body.payload !== undefined || body.message_body !== undefined, {
      message: 'payload (or message_body) is required',
      path: ['payload'],
    }),
) {}

export class PublishToTenantDto extends PublishMessageDto {}

const status = z.enum(['queued', 'processing', 'processed', 'failed'], {
  error: 'expected queued, processing, processed or failed',
});
export type MessageStatus = z.infer<typeof status>;

export class ListMessagesQueryDto extends createZodDto(
  z.object({
    queue_name: queueName.optional(),
    status: status.optional(),
    tenant_id: z.uuid().optional(),
    cursor: z.string().min(1).max(300).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  }),
) {}

export class ConcurrencyDto extends createZodDto(
  z
    .object({ workers: workers.optional(), concurrency_config: workers.optional() })
    .meta({ anyOf: [{ required: ['workers'] }, { required: ['concurrency_config'] }] })
    .refine((b) => b.workers !== undefined || b.concurrency_config !== undefined, {
      message: 'workers is required',
      path: ['workers'],
    }),
) {}

export class QueueConfigDto extends createZodDto(
  z.object({
    workers,
    max_attempts: z.number().int().min(1).max(20).optional(),
    webhook_url: z.string().max(2000).nullable().optional(),
    /** A new webhook signing secret for the queue (the answer shows it once). */
    rotate_signing_secret: z.boolean().optional(),
  }),
) {}

export const messageView = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  queue_name: z.string(),
  payload: z.unknown(),
  status,
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  idempotency_key: z.string().nullable(),
  created_at: z.string(),
  processed_at: z.string().nullable(),
});
/** A message as the API shows it. */
export type MessageView = z.infer<typeof messageView>;

export class MessageDto extends createZodDto(messageView) {}
export class MessageListDto extends createZodDto(
  z.object({ data: z.array(messageView), next_cursor: z.string().nullable() }),
) {}

export const queueConfigView = z.object({
  tenant_id: z.uuid(),
  queue_name: z.string(),
  workers: z.number().int(),
  max_attempts: z.number().int(),
  webhook_url: z.string().nullable(),
  signing: z.boolean().describe('The queue has its own webhook signing secret'),
  signing_secret: z
    .string()
    .optional()
    .describe('A new secret, in the one answer that made it (first webhook, or a rotation)'),
  updated_at: z.string(),
});
/** A queue's stored configuration as the API shows it. */
export type QueueConfigView = z.infer<typeof queueConfigView>;
export class QueueConfigViewDto extends createZodDto(queueConfigView) {}

const tenantConcurrencyView = z.object({
  tenant_id: z.uuid(),
  workers: z.number().int(),
  queues: z.array(queueConfigView),
});
export type TenantConcurrencyView = z.infer<typeof tenantConcurrencyView>;
export class TenantConcurrencyViewDto extends createZodDto(tenantConcurrencyView) {}

/** One queue as one instance runs it (what its heartbeat carries). */
const instanceQueueStats = z.object({
  workers: z.number().int(),
  active_workers: z.number().int(),
  in_flight: z.number().int(),
  processed: z.number().int(),
  failed: z.number().int(),
  is_active: z.boolean(),
  consumable: z.boolean(),
  blocked_reason: z.string().nullable(),
  arguments_outdated: z.boolean(),
});
export type InstanceQueueStats = z.infer<typeof instanceQueueStats>;
const instanceStats = z.object({ instance_id: z.string(), ...instanceQueueStats.shape });

export const consumerStatus = z.object({
  tenant_id: z.uuid(),
  queue_name: z.string(),
  workers: z.number().int(),
  active_workers: z.number().int(),
  in_flight: z.number().int(),
  processed: z.number().int(),
  failed: z.number().int(),
  queue_depth: z.number().int().nullable(),
  dead_letter_depth: z.number().int().nullable(),
  is_active: z.boolean(),
  consumable: z
    .boolean()
    .describe(
      'False when an instance that should consume the queue cannot (blocked_reason says why)',
    ),
  blocked_reason: z.string().nullable(),
  arguments_outdated: z
    .boolean()
    .describe("The queue exists with an earlier version's arguments and is used as it is"),
  instances: z.array(instanceStats),
});
/** A queue consumer's status: per instance and in total, with the queue's depths. */
export type ConsumerStatus = z.infer<typeof consumerStatus>;
export class ConsumerStatusDto extends createZodDto(consumerStatus) {}
export class ConsumerStatusListDto extends createZodDto(
  z.object({ data: z.array(consumerStatus) }),
) {}
