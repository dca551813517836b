import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { ZodValidationException } from 'nestjs-zod';
import { ZodError } from 'zod';
import { AppError } from './app-error';

/** The one error envelope of API.md. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code?: string;
  details?: unknown[];
  request_id?: string;
}

export interface FieldProblem {
  field: string;
  message: string;
}

export function zodDetails(error: ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({
    field: issue.path.join('.') || '(body)',
    message: issue.message,
  }));
}

/** Maps anything thrown to the envelope; `known` is false for what must be logged as a bug. */
export function toErrorBody(exception: unknown): { body: ErrorBody; known: boolean } {
  if (exception instanceof AppError) {
    return {
      body: envelope(exception.status, exception.message, exception.code, exception.details),
      known: true,
    };
  }
  if (exception instanceof ZodValidationException) {
    const zodError = exception.getZodError();
    const details = zodError instanceof ZodError ? zodDetails(zodError) : undefined;
    const summary = details?.map((d) => `${d.field}: ${d.message}`).join('; ');
    return {
      body: envelope(
        400,
        summary ? `Invalid input: ${summary}` : 'Invalid input',
        'COMMON.VALIDATION',
        details,
      ),
      known: true,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : typeof response === 'object' && response && 'message' in response
          ? ([] as unknown[]).concat(response.message).join('; ')
          : exception.message;
    return { body: envelope(status, message), known: status < 500 };
  }
  const sqlState = databaseDataError(exception);
  if (sqlState) {
    return {
      body: envelope(
        400,
        'Invalid input: a value is malformed or out of range for storage',
        'COMMON.VALIDATION',
      ),
      known: true,
    };
  }
  // Errors Fastify raises before Nest sees the request (body too large, malformed JSON …).
  if (isClientHttpError(exception)) {
    return { body: envelope(exception.statusCode, exception.message, exception.code), known: true };
  }
  return {
    body: envelope(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error'),
    known: false,
  };
}

/**
 * PostgreSQL's data exceptions that only bad input causes: invalid text representation (22P02),
 * untranslatable character (22P05), invalid datetime format (22007), datetime field overflow
 * (22008), numeric value out of range (22003), character not in repertoire (22021). A safety net
 * behind the validation at the edge: a 400 instead of a 500 (the failed statement stored nothing).
 */
const DATA_ERROR_STATES = new Set(['22P02', '22P05', '22007', '22008', '22003', '22021']);

/** The SQLSTATE of a PostgreSQL data exception caused by input (a TypeORM or pg error), else null. */
export function databaseDataError(exception: unknown): string | null {
  for (const candidate of [
    exception,
    (exception as { driverError?: unknown } | null)?.driverError,
  ]) {
    if (typeof candidate !== 'object' || candidate === null) continue;
    const { code, severity } = candidate as { code?: unknown; severity?: unknown };
    if (typeof code === 'string' && typeof severity === 'string' && DATA_ERROR_STATES.has(code)) {
      return code;
    }
  }
  return null;
}

function envelope(
  statusCode: number,
  message: string,
  code?: string,
  details?: unknown[],
): ErrorBody {
  return {
    statusCode,
    error: STATUS_CODES[statusCode] ?? 'Error',
    message,
    ...(code ? { code } : {}),
    ...(details ? { details } : {}),
  };
}

function isClientHttpError(
  value: unknown,
): value is { statusCode: number; message: string; code?: string } {
  if (typeof value !== 'object' || value === null || !('statusCode' in value)) return false;
  return typeof value.statusCode === 'number' && value.statusCode >= 400 && value.statusCode < 500;
}
