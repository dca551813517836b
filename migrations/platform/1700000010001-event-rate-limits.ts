import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A tenant's own event ingestion limit, set by a platform admin (absent: the configured default). */
export class EventRateLimits1700000010001 implements MigrationInterface {
  name = 'EventRateLimits1700000010001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      create table if not exists tenant_event_rate_limits (
        tenant_id uuid primary key references tenants (id) on delete cascade,
        points integer not null check (points > 0),
        window_seconds integer not null check (window_seconds between 1 and 86400),
        updated_by text,
        updated_at timestamptz not null default now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop table if exists tenant_event_rate_limits');
  }
}
