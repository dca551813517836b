/** The API as the page calls it: credentials on every request, errors in words. */

export type Credential =
  | { kind: 'key'; apiKey: string }
  | {
      kind: 'bearer';
      token: string;
      email: string;
      tenantId: string | null;
      role: 'tenant_owner' | 'user' | null;
      isAdmin: boolean;
    };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

const STORAGE_KEY = 'tessera.dashboard.credential';

/** Kept in sessionStorage (gone with the tab), never in a URL. */
export function loadCredential(): Credential | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Credential) : null;
  } catch {
    return null;
  }
}

export function saveCredential(credential: Credential | null): void {
  if (credential) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credential));
  else sessionStorage.removeItem(STORAGE_KEY);
}

export class Api {
  credential: Credential | null = loadCredential();
  /** Called on any 401 with a credential: the page goes back to sign-in. */
  onUnauthorized: (message: string) => void = () => undefined;

  headers(): Record<string, string> {
    const c = this.credential;
    if (!c) return {};
    if (c.kind === 'key') return { 'x-api-key': c.apiKey };
    return {
      authorization: `Bearer ${c.token}`,
      ...(c.tenantId ? { 'x-tenant-id': c.tenantId } : {}),
    };
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { signOutOn401?: boolean; tenantId?: string } = {},
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...this.headers(),
          ...(options.tenantId ? { 'x-tenant-id': options.tenantId } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 'The server cannot be reached; retrying');
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (response.ok) return parsed as T;

    const message =
      parsed &&
      typeof parsed === 'object' &&
      typeof (parsed as { message?: unknown }).message === 'string'
        ? (parsed as { message: string }).message
        : response.statusText || `HTTP ${response.status}`;
    const retryAfter = Number(response.headers.get('retry-after'));
    const error = new ApiError(
      response.status,
      message,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    );
    if (response.status === 401 && options.signOutOn401 !== false) {
      this.onUnauthorized(`Signed out: ${message}`);
    }
    return Promise.reject(error);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
}

/** What a person reads for a failed call. */
export function describe(error: unknown): string {
  if (!(error instanceof ApiError)) return error instanceof Error ? error.message : String(error);
  switch (error.status) {
    case 0:
      return error.message;
    case 401:
      return 'not signed in';
    case 403:
      return "needs a tenant owner's sign-in";
    case 404:
      return 'not available';
    case 429:
      return `rate limited, retrying in ${error.retryAfterSeconds ?? 5} s`;
    case 503:
      return `unavailable: ${error.message}`;
    default:
      return `${error.status}: ${error.message}`;
  }
}
