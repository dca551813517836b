import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Tenant registry, platform admins, tenant memberships and API-key hashes. */
export class PlatformRegistry1700000000001 implements MigrationInterface {
  name = 'PlatformRegistry1700000000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      create table tenants (
        id uuid primary key default gen_random_uuid(),
        name text not null check (length(name) between 1 and 100),
        status text not null default 'provisioning'
          check (status in ('provisioning', 'active', 'provisioning_failed', 'deleting', 'deleted')),
        allow_self_signup boolean not null default false,
        concurrency_config integer not null default 3 check (concurrency_config between 1 and 100),
        database_secret_id text,
        secret_managed boolean not null default true,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        deleted_at timestamptz
      )`);
    // A name is taken until its tenant is deleted.
    await db.query(
      `create unique index tenants_name_live_key on tenants (lower(name)) where status <> 'deleted'`,
    );

    await db.query(`
      create table platform_admins (
        user_id text primary key,
        email text not null unique,
        created_at timestamptz not null default now()
      )`);

    await db.query(`
      create table tenant_users (
        tenant_id uuid not null references tenants (id),
        user_id text not null,
        email text not null,
        role text not null check (role in ('tenant_owner', 'user')),
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        last_login_at timestamptz,
        primary key (tenant_id, user_id)
      )`);
    await db.query(`create index tenant_users_user_idx on tenant_users (user_id)`);
    await db.query(`create index tenant_users_email_idx on tenant_users (lower(email))`);

    await db.query(`
      create table tenant_api_keys (
        id uuid primary key default gen_random_uuid(),
        tenant_id uuid not null references tenants (id),
        key_prefix text not null,
        key_hash text not null unique,
        created_at timestamptz not null default now(),
        revoked_at timestamptz
      )`);
    await db.query(`create index tenant_api_keys_tenant_idx on tenant_api_keys (tenant_id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('drop table tenant_api_keys');
    await db.query('drop table tenant_users');
    await db.query('drop table platform_admins');
    await db.query('drop table tenants');
  }
}
