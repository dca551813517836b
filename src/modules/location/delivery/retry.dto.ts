import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

const ledgerStatus = z.enum(['pending', 'retried', 'resolved', 'permanently_failed']);

export class LedgerScopeQueryDto extends createZodDto(
  z.object({ tenant_id: z.uuid({ error: 'expected a tenant uuid' }).optional() }),
) {}

export class LedgerListQueryDto extends createZodDto(
  z.object({
    tenant_id: z.uuid({ error: 'expected a tenant uuid' }).optional(),
    status: ledgerStatus.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(300).optional(),
  }),
) {}

export const ledgerView = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  event_id: z.uuid(),
  session_id: z.uuid(),
  user_id: z.string(),
  latitude: z.number(),
  longitude: z.number(),
  accuracy: z.number().nullable(),
  recorded_at: z.string(),
  status: ledgerStatus,
  error_message: z.string().nullable(),
  last_status_code: z.number().int().nullable(),
  attempts: z.number().int(),
  retry_count: z.number().int(),
  next_retry_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  resolved_at: z.string().nullable(),
});
export type LedgerView = z.infer<typeof ledgerView>;
export class LedgerRowDto extends createZodDto(ledgerView) {}
export class LedgerListDto extends createZodDto(
  z.object({ data: z.array(ledgerView), next_cursor: z.string().nullable() }),
) {}

export class LedgerStatsDto extends createZodDto(
  z.object({
    tenant_id: z.uuid().nullable(),
    by_status: z.object({
      pending: z.number().int(),
      retried: z.number().int(),
      resolved: z.number().int(),
      permanently_failed: z.number().int(),
    }),
    total: z.number().int(),
    attempts_histogram: z.array(z.object({ retries: z.number().int(), count: z.number().int() })),
    oldest_pending_at: z.string().nullable(),
    next_due_at: z.string().nullable(),
  }),
) {}

export class ReplayAcceptedDto extends createZodDto(
  z.object({ id: z.uuid(), status: ledgerStatus, next_retry_at: z.string().nullable() }),
) {}

export class StreamingHealthDto extends createZodDto(
  z.object({
    status: z.enum(['ok', 'degraded', 'down']),
    consumer: z.object({
      group_id: z.string(),
      state: z.string(),
      last_batch_at: z.string().nullable(),
      last_error: z.string().nullable(),
    }),
    lag: z.array(
      z.object({ topic: z.string(), partition: z.number().int(), lag: z.number().int() }),
    ),
    total_lag: z.number().int(),
    breakers: z.array(
      z.object({
        tenant_id: z.uuid(),
        target: z.string(),
        state: z.enum(['closed', 'half_open', 'open']),
        last_success_at: z.string().nullable(),
        last_error_at: z.string().nullable(),
        last_error: z.string().nullable(),
        reachable: z.boolean().nullable(),
      }),
    ),
    third_party: z.object({ reachable: z.boolean().nullable() }),
  }),
) {}
