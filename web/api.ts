/**
 * The API as the page calls it: the typed client of `@tessera/client` with the signed-in
 * credential, a 401 that signs the page out, and errors in words.
 */
import { createTesseraClient, type TesseraClient, TesseraError } from '@tessera/client';

export { TesseraError };

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

/** No answer at all (the network or the server is down); the page tries again later. */
export class Unreachable extends Error {
  constructor() {
    super('The server cannot be reached; retrying');
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

/** What a client call resolves with (openapi-fetch's result). */
interface CallResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

export class Api {
  /**
   * Same origin; no automatic retries: the panels wait out a 429 themselves (saying so), and a
   * sign-in answers at once.
   */
  readonly client: TesseraClient = createTesseraClient({ baseUrl: location.origin, retry: false });
  /** Called on any 401 with a credential: the page goes back to sign-in. */
  onUnauthorized: (message: string) => void = () => undefined;
  private current: Credential | null = null;

  constructor() {
    this.credential = loadCredential();
  }

  get credential(): Credential | null {
    return this.current;
  }

  set credential(credential: Credential | null) {
    this.current = credential;
    this.client.setAuth(
      !credential
        ? undefined
        : credential.kind === 'key'
          ? { apiKey: credential.apiKey }
          : { accessToken: credential.token },
    );
    this.client.setTenant(
      credential?.kind === 'bearer' ? (credential.tenantId ?? undefined) : undefined,
    );
  }

  /**
   * The data of a call made with `this.client`; a failed one throws `TesseraError` (a 401 signs
   * the page out unless `signOutOn401` is false) or `Unreachable`.
   */
  async call<R extends CallResult>(
    call: Promise<R>,
    options: { signOutOn401?: boolean } = {},
  ): Promise<Exclude<R['data'], undefined>> {
    let result: R;
    try {
      result = await call;
    } catch {
      throw new Unreachable();
    }
    if (result.response.ok) return result.data as Exclude<R['data'], undefined>;
    const error = new TesseraError(result.response, result.error);
    if (error.status === 401 && options.signOutOn401 !== false)
      this.onUnauthorized(`Signed out: ${error.message}`);
    throw error;
  }
}

/** The HTTP status of a failed call (0: no answer). */
export function statusOf(error: unknown): number {
  return error instanceof TesseraError ? error.status : 0;
}

/** What a person reads for a failed call. */
export function describe(error: unknown): string {
  if (!(error instanceof TesseraError))
    return error instanceof Error ? error.message : String(error);
  switch (error.status) {
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
