import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each tenant queue's own webhook signing secret (made when its webhook is first set, rotated on
 * request, shown once): a tenant that can verify its webhooks cannot sign another tenant's.
 */
export class MessagingWebhookSecret1700000012001 implements MigrationInterface {
  name = 'MessagingWebhookSecret1700000012001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `alter table messaging_queues add column if not exists webhook_signing_secret text`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`alter table messaging_queues drop column if exists webhook_signing_secret`);
  }
}
