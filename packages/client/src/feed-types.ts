/** The shapes of the live feed (`/api/v1/ws`) as the client sees them. */

/** How the socket authenticates: offered as a subprotocol, which browsers can send too. */
export type FeedCredential =
  | { apiKey: string }
  | {
      /** An access token from `POST /api/v1/auth/login`. */
      token: string;
      /** Which of the person's tenants (sent as `?tenant_id=`); default the session's own. */
      tenantId?: string;
    };

/** One event of the tenant's feed. */
export interface FeedEvent {
  /** Null for live-only facts (`location.delivered`, `message.processed`), which are not stored. */
  id: string | null;
  tenant_id: string;
  /** The tenant's event number: the feed delivers it once, in order. Null for live-only facts. */
  seq: number | null;
  event_type: string;
  source: string;
  timestamp: string;
  metadata?: Record<string, unknown>;
  created_at?: string;
}

/** The server's first message on every socket: the seq its live stream starts after. */
export interface FeedHello {
  tenant_id: string;
  seq: number;
}

/** The answer to `subscribe`: the filter in force and the seq delivered up to. */
export interface FeedSubscribed {
  event_types: string[] | null;
  seq: number;
}

/**
 * More was missed than the server replays (`EVENTS_REPLAY_MAX`): events after `since_seq` up to
 * `seq` were not delivered (read them with `GET /api/v1/events`); the feed goes on after `seq`.
 */
export interface FeedGap {
  since_seq: number;
  seq: number;
  replay_max: number;
}

/** Why the feed ended for good (it never reconnects after these). */
export type FeedCloseReason =
  /** `close()` was called (or a `for await` loop over the feed was left). */
  | { kind: 'closed'; code: 1000; reason: string }
  /** The server ended the socket's credential: logout, revoked session or key, expired token (4401). */
  | { kind: 'unauthorized'; code: 4401 | 1008; reason: string }
  /** The upgrade failed and the API refused the same credential (HTTP 401 or 403). */
  | { kind: 'refused'; status: 401 | 403; reason: string };

/** A socket that went away; the feed reconnects after `retryInMs`. */
export interface FeedDisconnect {
  code: number;
  reason: string;
  /** False when the upgrade itself failed (refused, unreachable). */
  opened: boolean;
  /** Consecutive attempts that have not reached `hello`. */
  attempt: number;
  retryInMs: number;
}

export interface FeedOpen {
  /** True from the second connection on: the feed resumes after `lastSeq`. */
  reconnect: boolean;
  hello: FeedHello;
}

/** What `feed.stats` counts since the feed started. */
export interface FeedStats {
  /** Events handed to listeners and iterators. */
  received: number;
  /** Events dropped because their seq was already delivered (a replay overlapping what came live). */
  duplicates: number;
  gaps: number;
  /** Sockets that reached `hello`. */
  connections: number;
  /** Connections after the first: each one resumed after the last seq. */
  reconnects: number;
  /** Sockets that closed without `close()` being called. */
  drops: number;
}

export interface FeedEvents {
  event: FeedEvent;
  gap: FeedGap;
  open: FeedOpen;
  subscribed: FeedSubscribed;
  disconnect: FeedDisconnect;
  close: FeedCloseReason;
  error: Error;
}

/** The parts of a WebSocket the client uses: the browser's, Node's global one, or `ws`'s. */
export interface FeedSocket {
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(
    type: 'close',
    listener: (event: { code: number; reason: string }) => void,
  ): void;
  addEventListener(type: 'error', listener: () => void): void;
}

export type FeedSocketConstructor = new (url: string, protocols: string[]) => FeedSocket;

export interface FeedOptions {
  /** The API's origin (`https://api.example.com`); default the page's own. `ws(s)://` works too. */
  baseUrl?: string;
  credential: FeedCredential;
  /** Only these event types (server-side filter); default all. */
  eventTypes?: string[];
  /** Resume after this seq (replayed by the server); default: live from the first `hello`. */
  sinceSeq?: number;
  /** Reconnect delay: doubles from `initialMs` to `maxMs`, each wait drawn in [½, 1] of it. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Default `globalThis.WebSocket` (browsers, Node 22+). */
  WebSocket?: FeedSocketConstructor;
  /**
   * After an upgrade that failed without opening, the same credential is tried on
   * `GET /api/v1/events?limit=1` (sockets cannot read the refusal's status): 401/403 ends the feed
   * (`refused`), anything else reconnects. Default `globalThis.fetch`; `false` never asks.
   */
  fetch?: typeof fetch | false;
}
