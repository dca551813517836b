import {
  Column,
  CreateDateColumn,
  Entity,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

export type TenantStatus =
  'provisioning' | 'active' | 'provisioning_failed' | 'deleting' | 'deleted';

/** Platform table `tenants` (migrations/platform). */
@Entity('tenants')
export class TenantEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('text')
  name!: string;

  @Column('text')
  status!: TenantStatus;

  @Column('boolean', { name: 'allow_self_signup' })
  allowSelfSignup!: boolean;

  @Column('integer', { name: 'concurrency_config' })
  concurrencyConfig!: number;

  @Column('text', { name: 'database_secret_id', nullable: true })
  databaseSecretId!: string | null;

  @Column('boolean', { name: 'secret_managed' })
  secretManaged!: boolean;

  @Column('text', { name: 'provisioning_error', nullable: true })
  provisioningError!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column('timestamptz', { name: 'deleted_at', nullable: true })
  deletedAt!: Date | null;
}
