import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A ledger row keeps the W3C `traceparent` of the dead-lettering that filed it: a retry, minutes
 * or hours later, starts its own trace with a span link to the update's original one.
 */
export class LocationLedgerTraceparent1700000017001 implements MigrationInterface {
  name = 'LocationLedgerTraceparent1700000017001';

  async up(db: QueryRunner): Promise<void> {
    await db.query('alter table failed_location_updates add column if not exists traceparent text');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('alter table failed_location_updates drop column if exists traceparent');
  }
}
