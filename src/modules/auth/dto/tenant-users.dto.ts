import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { emailAddress } from './email';

const role = z.enum(['tenant_owner', 'user'], { error: 'expected tenant_owner or user' });

export class AddTenantUserDto extends createZodDto(
  z.object({
    email: emailAddress().transform((value) => value.toLowerCase()),
    role: role.default('user'),
    /** Given: the account starts with it (changed at first login) and no invitation is sent. */
    temporary_password: z.string().min(8).max(256).optional(),
  }),
) {}

export class ChangeRoleDto extends createZodDto(z.object({ role })) {}

export class ListQueryDto extends createZodDto(
  z.object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
  }),
) {}

export const tenantUserView = z.object({
  user_id: z.string(),
  email: z.string(),
  role,
  created_at: z.string(),
  last_login_at: z.string().nullable(),
});
export type TenantUserView = z.infer<typeof tenantUserView>;

export class TenantUserDto extends createZodDto(tenantUserView) {}

export class TenantUserListDto extends createZodDto(
  z.object({ data: z.array(tenantUserView), next_cursor: z.string().nullable() }),
) {}
