import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { badStringReason, instant } from '../../../shared/validation';
import { AUDIT_ACTIONS } from './tenant-audit.actions';

/** Query of `GET /tenant/audit`: filters combine; [from, to) any instant from year 0001 to 9999. */
export const listAuditSchema = z
  .object({
    actor: z
      .string()
      .min(1, 'actor must not be empty')
      .max(200, 'actor is at most 200 characters')
      .refine((value) => badStringReason(value) === null, 'actor must be plain text')
      .optional()
      .describe('A user id, `platform_admin` or `api_key`'),
    action: z
      .enum(AUDIT_ACTIONS, { error: `action must be one of ${AUDIT_ACTIONS.join(', ')}` })
      .optional(),
    from: instant('from').optional().describe('Rows at or after this instant'),
    to: instant('to').optional().describe('Rows before this instant'),
    cursor: z.string().max(500).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict()
  .superRefine((query, ctx) => {
    if (query.from && query.to && Date.parse(query.from) > Date.parse(query.to)) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'from must not be after to' });
    }
  });
export type ListAuditQuery = z.output<typeof listAuditSchema>;
export class ListAuditQueryDto extends createZodDto(listAuditSchema) {}

const auditEntry = z.object({
  id: z.uuid(),
  tenant_id: z.uuid(),
  action: z.string().describe(`One of ${AUDIT_ACTIONS.join(', ')}`),
  actor: z
    .string()
    .nullable()
    .describe('A user id, `platform_admin`, `api_key`, or null (the platform itself)'),
  details: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .describe('Ids, names and flags of the action: never a secret or a payload'),
  created_at: z.string().describe('ISO 8601 date-time'),
});

export class AuditPageDto extends createZodDto(
  z.object({ data: z.array(auditEntry), next_cursor: z.string().nullable() }),
) {}
