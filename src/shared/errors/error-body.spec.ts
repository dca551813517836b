import { BadRequestException, NotFoundException } from '@nestjs/common';
import { ZodValidationException } from 'nestjs-zod';
import { z } from 'zod';
import { AppError, defineErrorCodes } from './app-error';
import { toErrorBody } from './error-body';

describe('toErrorBody', () => {
  it('maps an AppError to its status and code', () => {
    const error = defineErrorCodes({ 'DEMO.GONE': 410 })('DEMO.GONE', 'It went away');
    expect(error).toBeInstanceOf(AppError);
    expect(toErrorBody(error)).toEqual({
      known: true,
      body: { statusCode: 410, error: 'Gone', message: 'It went away', code: 'DEMO.GONE' },
    });
  });

  it('turns zod issues into per-field details', () => {
    const result = z
      .object({ a: z.string(), b: z.object({ c: z.number() }) })
      .safeParse({ b: { c: 'x' } });
    const { body } = toErrorBody(new ZodValidationException(result.error));
    expect(body.statusCode).toBe(400);
    expect(body.code).toBe('COMMON.VALIDATION');
    expect(body.details).toEqual([
      { field: 'a', message: expect.any(String) },
      { field: 'b.c', message: expect.any(String) },
    ]);
  });

  it('keeps Nest HTTP exceptions and Fastify client errors, hides everything else', () => {
    expect(toErrorBody(new NotFoundException('nope')).body).toMatchObject({
      statusCode: 404,
      message: 'nope',
    });
    expect(toErrorBody(new BadRequestException(['x', 'y'])).body.message).toBe('x; y');
    expect(
      toErrorBody(
        Object.assign(new Error('too big'), {
          statusCode: 413,
          code: 'FST_ERR_CTP_BODY_TOO_LARGE',
        }),
      ).body,
    ).toMatchObject({
      statusCode: 413,
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
    });
    expect(toErrorBody(new Error('db password=hunter2'))).toEqual({
      known: false,
      body: { statusCode: 500, error: 'Internal Server Error', message: 'Internal server error' },
    });
  });

  it('answers PostgreSQL data exceptions caused by input with 400, and nothing else', () => {
    const pgError = (code: string) =>
      Object.assign(new Error('invalid input syntax for type bigint: "x"'), {
        code,
        severity: 'ERROR',
      });
    // TypeORM wraps the driver's error (and copies its fields).
    const typeorm = Object.assign(new Error('query failed'), { driverError: pgError('22008') });
    for (const error of [pgError('22P02'), pgError('22021'), pgError('22003'), typeorm]) {
      expect(toErrorBody(error)).toEqual({
        known: true,
        body: {
          statusCode: 400,
          error: 'Bad Request',
          message: 'Invalid input: a value is malformed or out of range for storage',
          code: 'COMMON.VALIDATION',
        },
      });
    }
    // A unique violation or a lost connection is not the caller's input.
    for (const error of [pgError('23505'), pgError('57P01'), { code: '22P02' }]) {
      expect(toErrorBody(error).body.statusCode).toBe(500);
    }
  });
});
