import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A tenant may take its location updates in batches: up to `batch_max_items` updates per POST,
 * a batch waiting at most `batch_linger_ms` for more. No `batch_max_items`: one update per POST.
 */
export class LocationDeliveryBatch1700000018001 implements MigrationInterface {
  name = 'LocationDeliveryBatch1700000018001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      alter table location_delivery_settings
        add column if not exists batch_max_items integer
          check (batch_max_items between 2 and 500),
        add column if not exists batch_linger_ms integer not null default 0
          check (batch_linger_ms between 0 and 1000)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      alter table location_delivery_settings
        drop column if exists batch_max_items,
        drop column if exists batch_linger_ms`);
  }
}
