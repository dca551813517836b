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
  // Errors Fastify raises before Nest sees the request (body too large, malformed JSON …).
  if (isClientHttpError(exception)) {
    return { body: envelope(exception.statusCode, exception.message, exception.code), known: true };
  }
  return {
    body: envelope(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error'),
    known: false,
  };
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
