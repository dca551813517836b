import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

const name = z
  .string()
  .trim()
  .min(1, 'name must not be empty')
  .max(100, 'name is at most 100 characters')
  .regex(
    /^[\p{L}\p{N}][\p{L}\p{N} ._-]*$/u,
    'name: letters, digits, spaces, dot, underscore and dash',
  );
const concurrency = z.number().int().min(1).max(100);

export const createTenantSchema = z
  .object({
    name,
    concurrency_config: concurrency.optional(),
    /** Synonym of concurrency_config (the original messaging system's name). */
    workers: concurrency.optional(),
    database_secret_id: z
      .string()
      .min(1)
      .max(2048)
      .regex(/^[A-Za-z0-9/_+=.@:-]+$/, 'database_secret_id: a secret name or ARN')
      .optional(),
    allow_self_signup: z.boolean().optional(),
  })
  .strict()
  .transform(({ workers, ...rest }) => ({
    ...rest,
    concurrency_config: rest.concurrency_config ?? workers,
  }));
export class CreateTenantDto extends createZodDto(createTenantSchema) {}

export const updateTenantSchema = z
  .object({ name: name.optional(), allow_self_signup: z.boolean().optional() })
  .strict()
  .meta({ minProperties: 1 })
  .refine((body) => body.name !== undefined || body.allow_self_signup !== undefined, {
    message: 'send name or allow_self_signup',
  });
export class UpdateTenantDto extends createZodDto(updateTenantSchema) {}

export const listTenantsSchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional(),
  status: z
    .enum(['provisioning', 'active', 'provisioning_failed', 'deleting', 'deleted'])
    .optional(),
});
export class ListTenantsQueryDto extends createZodDto(listTenantsSchema) {}
