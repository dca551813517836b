/**
 * An error the API answers with a known status and a stable code (`MODULE.REASON`).
 * Each module declares its codes and their statuses in one table (see `defineErrorCodes`).
 */
export class AppError extends Error {
  /** Extra response headers (e.g. Retry-After). */
  headers: Record<string, string> = {};

  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: unknown[],
  ) {
    super(message);
    this.name = new.target.name;
  }

  withHeaders(headers: Record<string, string>): this {
    Object.assign(this.headers, headers);
    return this;
  }
}

/**
 * One table per module: code → HTTP status. `satisfies` makes the compiler check completeness;
 * the returned factory builds errors whose status comes from the table.
 */
export function defineErrorCodes<const T extends Record<string, number>>(table: T) {
  return <C extends keyof T & string>(code: C, message: string, details?: unknown[]) =>
    new AppError(code, table[code], message, details);
}

export const commonError = defineErrorCodes({
  'COMMON.UNAUTHENTICATED': 401,
  'COMMON.FORBIDDEN': 403,
  'COMMON.TENANT_REQUIRED': 400,
  'COMMON.VALIDATION': 400,
  'COMMON.INVALID_CURSOR': 400,
  'COMMON.NOT_FOUND': 404,
  'COMMON.TENANT_CONTEXT_MISSING': 500,
  'COMMON.DEPENDENCY_UNAVAILABLE': 503,
  'COMMON.SHUTTING_DOWN': 503,
});
