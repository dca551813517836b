import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Platform table `platform_admins`: operators, who belong to no tenant. */
@Entity('platform_admins')
export class PlatformAdminEntity {
  @PrimaryColumn('text', { name: 'user_id' })
  userId!: string;

  @Column('text')
  email!: string;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt!: Date;
}
