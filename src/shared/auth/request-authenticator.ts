import type { Principal } from '../tenant-context';

/** What a caller presented, whatever the transport (HTTP request or WebSocket upgrade). */
export interface Credentials {
  authorization?: string;
  apiKey?: string;
  /** `X-Tenant-ID`: a platform admin's chosen tenant, or one of the caller's memberships. */
  tenantId?: string;
  ip?: string;
  userAgent?: string;
}

/**
 * The seam between transports and whoever verifies credentials. The guard (HTTP) and the
 * gateway (WebSocket upgrade) call it; it throws an AppError (401/403/503) or returns the principal.
 */
export abstract class RequestAuthenticator {
  abstract authenticate(credentials: Credentials): Promise<Principal>;
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first?.trim() || undefined;
}
