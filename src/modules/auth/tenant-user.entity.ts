import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { TenantRole } from '../../shared/tenant-context';

/** Platform table `tenant_users`: one row per membership (a user may belong to several tenants). */
@Entity('tenant_users')
export class TenantUserEntity {
  @PrimaryColumn('uuid', { name: 'tenant_id' })
  tenantId!: string;

  @PrimaryColumn('text', { name: 'user_id' })
  userId!: string;

  @Column('text')
  email!: string;

  @Column('text')
  role!: TenantRole;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt!: Date;

  @Column('timestamptz', { name: 'last_login_at', nullable: true })
  lastLoginAt!: Date | null;
}
