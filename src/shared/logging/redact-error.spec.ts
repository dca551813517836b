import { Writable } from 'node:stream';
import pino, { type LoggerOptions } from 'pino';
import { QueryFailedError } from 'typeorm';
import type { AppConfig } from '../../config';
import { AppError } from '../errors';
import { loggerParams } from './logging.module';
import { serializeError } from './redact-error';

/** A pg DatabaseError as the driver makes it (fields it copies from the server's answer). */
function pgError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), { name: 'error', severity: 'ERROR', ...fields });
}

function logged(err: unknown): string {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  // The app's own logger options (the serializer as wired, the redaction paths beside it).
  const options = loggerParams({ env: 'production', logLevel: 'info' } as AppConfig)
    .pinoHttp as LoggerOptions;
  pino({ serializers: options.serializers, redact: options.redact }, sink).error(
    { err },
    'Unhandled error',
  );
  return lines.join('');
}

describe('serializeError: failed SQL is logged without tenant data', () => {
  it('drops the bound parameters and the row values of a failed statement, keeps the SQL and the code', () => {
    const driver = pgError('duplicate key value violates unique constraint "users_email_key"', {
      code: '23505',
      detail: 'Key (email)=(alice@tenant-a.example) already exists.',
      table: 'users',
      constraint: 'users_email_key',
    });
    const err = new QueryFailedError(
      'insert into users (email, name) values ($1, $2)',
      ['alice@tenant-a.example', 'Alice Private'],
      driver,
    );
    const line = logged(err);
    expect(line).not.toContain('alice@tenant-a.example');
    expect(line).not.toContain('Alice Private');
    const { err: out } = JSON.parse(line) as { err: Record<string, unknown> };
    expect(out).toMatchObject({
      type: 'QueryFailedError',
      query: 'insert into users (email, name) values ($1, $2)',
      parameters: '[redacted]',
      detail: '[redacted]',
      code: '23505',
      constraint: 'users_email_key',
      driverError: { detail: '[redacted]', code: '23505' },
    });
    expect(out.message).toContain('users_email_key');
  });

  it('redacts the input a data exception quotes in its message and stack, through a wrapping error', () => {
    const driver = pgError('invalid input syntax for type uuid: "tenant-secret-value"', {
      code: '22P02',
    });
    const failed = new QueryFailedError('select 1 where id = $1', ['tenant-secret-value'], driver);
    const wrapped = new AppError('COMMON.VALIDATION', 400, 'Invalid input');
    Object.assign(wrapped, { cause: failed });
    for (const err of [failed, wrapped]) {
      const line = logged(err);
      expect(line).not.toContain('tenant-secret-value');
      expect(line).toContain('invalid input syntax for type uuid: \\"[redacted]\\"');
    }
  });

  it('leaves other errors as pino logs them, and never changes the error itself', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
      port: 5432,
    });
    expect(JSON.parse(logged(err))).toMatchObject({
      err: { message: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'ECONNREFUSED', port: 5432 },
    });
    const failed = new QueryFailedError('select $1', ['kept'], pgError('x', { detail: 'row' }));
    serializeError(failed);
    expect(failed.parameters).toEqual(['kept']);
    expect((failed.driverError as unknown as { detail: string }).detail).toBe('row');
    expect(serializeError('not an error')).toBe('not an error');
  });
});
