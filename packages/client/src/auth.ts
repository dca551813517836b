import type { Send } from './retry.js';
import type { paths } from './schema.js';

type RefreshRoute = paths['/api/v1/auth/refresh']['post'];
/** What login and refresh answer: access, id and refresh tokens, the session and its user. */
export type Tokens = RefreshRoute['responses'][200]['content']['application/json'];
type RefreshBody = NonNullable<RefreshRoute['requestBody']>['content']['application/json'];

/** Calls as a tenant's API key (`X-API-Key`): tenant-scoped routes of that tenant, no user. */
export interface ApiKeyAuth {
  apiKey: string;
}

/** Calls as a signed-in user or platform admin (`Authorization: Bearer`). */
export interface BearerAuth {
  accessToken: string;
  /**
   * With it, a 401 on a call is answered by one refresh (`POST /api/v1/auth/refresh`) and the
   * call is sent again with the new access token; without it, the 401 is returned.
   */
  refreshToken?: string;
  /**
   * The tenant the session was opened in (`user.tenant_id` of the login answer): the refresh
   * reopens the session there instead of in the user's oldest membership.
   */
  sessionTenantId?: string | null;
  /** Called with the new tokens after every refresh (to store them). */
  onRefresh?: (tokens: Tokens) => void;
  /** Called when a refresh is refused (the refresh token is invalid or revoked): sign in again. */
  onRefreshFailed?: (response: Response) => void;
}

export type TesseraAuth = ApiKeyAuth | BearerAuth;

/** A bearer credential from a login (or refresh) answer, refreshed in the same tenant. */
export function bearerAuth(
  tokens: Tokens,
  callbacks: Pick<BearerAuth, 'onRefresh' | 'onRefreshFailed'> = {},
): BearerAuth {
  return {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    sessionTenantId: tokens.user.tenant_id,
    ...callbacks,
  };
}

/** The credentials and tenant a client sends; `setAuth`/`setTenant` change them. */
export interface Credentials {
  auth?: TesseraAuth;
  tenantId?: string;
}

const REFRESH_PATH = '/api/v1/auth/refresh' satisfies keyof paths;
/** Public routes whose 401 says the credentials sent in the body are wrong, not the token. */
const NO_REFRESH = new Set<string>([
  REFRESH_PATH,
  '/api/v1/auth/login' satisfies keyof paths,
  '/api/v1/auth/register' satisfies keyof paths,
]);

/**
 * Puts the credentials and the tenant on every request, and answers a 401 on a bearer call with
 * a refresh: exactly one refresh in flight per client — every call that meets a 401 meanwhile
 * waits for it — then each sends its request once more with the new token. A 401 for a token
 * that has since been replaced is sent again at once, without another refresh.
 */
export function authenticating(
  credentials: Credentials,
  baseUrl: string,
  next: Send,
  refreshSend: Send,
): Send {
  // One refresh in flight per credential (setAuth starts a new one, never shares the old one's).
  const refreshing = new WeakMap<BearerAuth, Promise<boolean>>();

  const refresh = (auth: BearerAuth, url: URL): Promise<boolean> => {
    let running = refreshing.get(auth);
    if (!running) {
      running = refreshOnce(auth, url).finally(() => refreshing.delete(auth));
      refreshing.set(auth, running);
    }
    return running;
  };

  const refreshOnce = async (auth: BearerAuth, url: URL): Promise<boolean> => {
    const body: RefreshBody = {
      refresh_token: auth.refreshToken!,
      ...(auth.sessionTenantId ? { tenant_id: auth.sessionTenantId } : {}),
    };
    const response = await refreshSend(
      new Request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      }),
    );
    if (!response.ok) {
      auth.onRefreshFailed?.(response);
      return false;
    }
    const tokens = (await response.json()) as Tokens;
    auth.accessToken = tokens.access_token;
    auth.refreshToken = tokens.refresh_token;
    auth.onRefresh?.(tokens);
    return true;
  };

  return async (request) => {
    const auth = credentials.auth;
    if (credentials.tenantId && !request.headers.has('x-tenant-id'))
      request.headers.set('x-tenant-id', credentials.tenantId);
    if (!auth) return next(request);
    if ('apiKey' in auth) {
      if (!request.headers.has('x-api-key')) request.headers.set('x-api-key', auth.apiKey);
      return next(request);
    }

    // The API's root, also for a relative baseUrl (a page calling its own origin).
    const root = new URL(baseUrl || '/', request.url);
    const basePath = root.pathname.replace(/\/$/, '');
    const refreshable =
      auth.refreshToken !== undefined &&
      !NO_REFRESH.has(new URL(request.url).pathname.slice(basePath.length));
    const sentWith = auth.accessToken;
    const spare = refreshable ? request.clone() : undefined;
    request.headers.set('authorization', `Bearer ${sentWith}`);
    const response = await next(request);
    if (response.status !== 401 || !spare) return response;

    const replaced =
      auth.accessToken !== sentWith ||
      (await refresh(auth, new URL(basePath + REFRESH_PATH, root)));
    if (!replaced || credentials.auth !== auth) return response;
    await response.body?.cancel();
    spare.headers.set('authorization', `Bearer ${auth.accessToken}`);
    return next(spare);
  };
}
