import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from '../app.module';
import { appConfig, loadLocalEnv } from '../config';
import { configureApp } from '../http/configure-app';
import { createFastifyAdapter } from '../http/fastify';
import { CognitoClient } from '../modules/auth';
import { ensurePlatformAdmin } from './create-platform-admin';

const PASSWORD = process.env.DEMO_PASSWORD ?? 'Demo-Passw0rd!';
const ADMIN = 'admin@demo.tessera.dev';
const TENANTS = [
  { name: 'Acme Demo', slug: 'acme' },
  { name: 'Globex Demo', slug: 'globex' },
];

type Json = Record<string, unknown>;
type Call = (
  method: string,
  path: string,
  body?: Json,
  token?: string,
  tenantId?: string,
) => Promise<{ status: number; body: Json }>;

/**
 * `npm run seed:demo` (development only): a platform admin, two tenants, an owner and a user in
 * each, all through the app's own API on a private port. Idempotent; prints the credentials.
 */
async function main(): Promise<void> {
  process.env.LOG_LEVEL ??= 'warn';
  loadLocalEnv();
  const config = appConfig();
  if (config.env === 'production')
    throw new Error('seed:demo refuses to run with NODE_ENV=production');

  await ensurePlatformAdmin(ADMIN, PASSWORD);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule,
    createFastifyAdapter(config),
    {
      logger: ['error', 'warn'],
    },
  );
  configureApp(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const call: Call = async (method, path, body, token, tenantId) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(tenantId ? { 'x-tenant-id': tenantId } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: res.status === 204 ? {} : ((await res.json()) as Json) };
  };

  try {
    const login = await call('POST', '/api/v1/auth/login', { email: ADMIN, password: PASSWORD });
    if (login.status !== 200)
      throw new Error(`admin login answered ${login.status}: ${JSON.stringify(login.body)}`);
    const adminToken = login.body.access_token as string;
    const cognito = app.get(CognitoClient);
    const lines = [`platform admin   ${ADMIN}  /  ${PASSWORD}`];

    for (const { name, slug } of TENANTS) {
      const tenant = await findOrCreateTenant(call, adminToken, name);
      lines.push(
        '',
        `tenant ${name}  id ${tenant.id}${typeof tenant.api_key === 'string' ? `  api_key ${tenant.api_key}` : '  (api_key shown at creation only)'}`,
      );
      for (const role of ['tenant_owner', 'user'] as const) {
        const email = `${role === 'tenant_owner' ? 'owner' : 'user'}@${slug}.demo.tessera.dev`;
        const added = await call(
          'POST',
          `/api/v1/tenants/${tenant.id}/users`,
          { email, role, temporary_password: PASSWORD },
          adminToken,
        );
        if (added.status !== 201 && added.body.code !== 'AUTH.ALREADY_MEMBER') {
          throw new Error(
            `adding ${email} answered ${added.status}: ${JSON.stringify(added.body)}`,
          );
        }
        // Demo accounts skip the first-login password change.
        await cognito.adminSetPassword(email, PASSWORD);
        lines.push(`  ${role.padEnd(13)} ${email}  /  ${PASSWORD}`);
      }
    }
    process.stdout.write(
      `\nDemo data (development only):\n${lines.map((l) => `  ${l}`).join('\n')}\n\n`,
    );
  } finally {
    await app.close();
  }
}

async function findOrCreateTenant(
  call: Call,
  token: string,
  name: string,
): Promise<Json & { id: string }> {
  const create = async () => {
    const created = await call('POST', '/api/v1/tenants', { name, allow_self_signup: true }, token);
    if (created.status === 201 || created.status === 409) return created;
    throw new Error(`creating ${name} answered ${created.status}: ${JSON.stringify(created.body)}`);
  };
  const created = await create();
  if (created.status === 201) return created.body as Json & { id: string };
  const existing = await findTenant(call, token, name);
  // The emulator keeps secrets and users in memory: after it restarted, the demo tenant's
  // database secret is gone. Development only: replace the tenant rather than leave it broken.
  const info = await call('GET', '/api/v1/tenant/info', undefined, token, existing.id);
  if (info.status === 200) return existing;
  const removed = await call('DELETE', `/api/v1/tenants/${existing.id}`, undefined, token);
  if (removed.status !== 204)
    throw new Error(
      `replacing ${name} answered ${removed.status}: ${JSON.stringify(removed.body)}`,
    );
  const again = await create();
  if (again.status !== 201)
    throw new Error(`re-creating ${name} answered ${again.status}: ${JSON.stringify(again.body)}`);
  return again.body as Json & { id: string };
}

async function findTenant(call: Call, token: string, name: string): Promise<Json & { id: string }> {
  for (let cursor: string | null = null, first = true; first || cursor; first = false) {
    const page = await call(
      'GET',
      `/api/v1/tenants?limit=100${cursor ? `&cursor=${cursor}` : ''}`,
      undefined,
      token,
    );
    const found = (page.body.data as (Json & { id: string; name: string })[]).find(
      (t) => t.name === name,
    );
    if (found) return found;
    cursor = page.body.next_cursor as string | null;
  }
  throw new Error(`tenant ${name} exists but was not found in the list`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `seed:demo failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
