import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Each tenant queue's consumer configuration: the stored truth every instance converges to. */
export class MessagingQueues1700000011001 implements MigrationInterface {
  name = 'MessagingQueues1700000011001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      create table if not exists messaging_queues (
        tenant_id uuid not null references tenants (id),
        queue_name text not null check (queue_name ~ '^[a-z0-9_-]{1,64}$'),
        workers integer not null check (workers between 1 and 50),
        max_attempts integer not null default 3 check (max_attempts between 1 and 20),
        webhook_url text check (length(webhook_url) <= 2000),
        status text not null default 'active' check (status in ('active', 'deleting')),
        version bigint not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        primary key (tenant_id, queue_name)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop table if exists messaging_queues');
  }
}
