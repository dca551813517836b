import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { awsConfig, cognitoConfig, databaseConfig, loadLocalEnv } from '../config';
import { CognitoClient } from '../modules/auth';
import { AwsClients } from '../shared/aws';
import { pgSslOptions } from '../shared/database';
import { AppError } from '../shared/errors';

/**
 * Makes `email` a platform admin: the Cognito account (created unless it exists, password set
 * permanent) and its `platform_admins` row. Idempotent. Returns the user id.
 */
export async function ensurePlatformAdmin(email: string, password: string): Promise<string> {
  const aws = new AwsClients(awsConfig());
  const cognito = new CognitoClient(aws, cognitoConfig());
  const config = databaseConfig();
  const db = new Client({ connectionString: config.url, ssl: pgSslOptions(config.tls) });
  try {
    let userId: string;
    try {
      userId = await cognito.adminCreateUser(email, password);
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'AUTH.ACCOUNT_EXISTS')) throw error;
      userId = (await cognito.findUserId(email))!;
    }
    await cognito.adminSetPassword(email, password);
    await db.connect();
    // The e-mail names the admin: when its Cognito user was made anew (another sub), the row
    // follows the new user instead of colliding with the old one.
    await db.query('begin');
    await db.query('delete from platform_admins where email = $2 and user_id <> $1', [
      userId,
      email,
    ]);
    await db.query(
      `insert into platform_admins (user_id, email) values ($1, $2)
       on conflict (user_id) do update set email = excluded.email`,
      [userId, email],
    );
    await db.query('commit');
    return userId;
  } finally {
    await db.end().catch(() => undefined);
    aws.onApplicationShutdown();
  }
}

/** `npm run admin:create -- --email ops@example.com [--password …]` (a password is generated when omitted). */
async function main(): Promise<void> {
  loadLocalEnv();
  const { values } = parseArgs({
    options: { email: { type: 'string' }, password: { type: 'string' } },
  });
  const email = values.email?.trim().toLowerCase();
  if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) {
    process.stderr.write(
      'Usage: npm run admin:create -- --email <email> [--password <password>]\n',
    );
    process.exit(2);
  }
  const password = values.password ?? `Adm1n-${randomBytes(12).toString('base64url')}`;
  const userId = await ensurePlatformAdmin(email, password);
  process.stdout.write(
    `Platform admin ready: ${email} (user_id ${userId})${values.password ? '' : `\nPassword: ${password}`}\n`,
  );
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `Could not create the platform admin: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  });
}
