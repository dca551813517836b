import type { QueryRunner } from 'typeorm';

/** The tenant of the current transaction; NULL when unset or '' (then no row matches). */
export const CURRENT_TENANT_SQL = `nullif(current_setting('app.tenant_id', true), '')::uuid`;

/**
 * Row-level security for one tenant table (it must have `tenant_id uuid not null`): enabled and
 * forced (the owner too), with USING and WITH CHECK on `app.tenant_id`, which rejects NULL and ''.
 * Every tenant migration calls this for each table it creates.
 */
export async function enableTenantRls(db: QueryRunner, table: string): Promise<void> {
  const name = `"${table.replace(/"/g, '""')}"`;
  await db.query(`alter table ${name} enable row level security`);
  await db.query(`alter table ${name} force row level security`);
  await db.query(`drop policy if exists tenant_isolation on ${name}`);
  await db.query(
    `create policy tenant_isolation on ${name}
       using (tenant_id = ${CURRENT_TENANT_SQL})
       with check (tenant_id = ${CURRENT_TENANT_SQL})`,
  );
}
