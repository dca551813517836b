import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ledger rows remember the topic their update came from: a retry worker claims only the rows of
 * its own `LOCATION_TOPIC`, so deployments (or test suites) sharing a platform database with
 * different topics and delivery policies never redeliver each other's rows.
 */
export class LocationLedgerTopic1700000008002 implements MigrationInterface {
  name = 'LocationLedgerTopic1700000008002';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `alter table failed_location_updates
         add column if not exists source_topic text not null default 'location.updates'`,
    );
    await db.query('drop index if exists failed_location_updates_due_idx');
    await db.query(
      `create index if not exists failed_location_updates_due_topic_idx
         on failed_location_updates (source_topic, next_retry_at)
         where status in ('pending', 'retried')`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop index if exists failed_location_updates_due_topic_idx');
    await db.query('alter table failed_location_updates drop column if exists source_topic');
  }
}
