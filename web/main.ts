import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { type FeedEvent as AnyFeedEvent, FeedClient } from '@tessera/client';
import { Api, type Credential, describe, saveCredential, statusOf, TesseraError } from './api';
import { byId, h } from './dom';
import { type FeedEvent, FeedView } from './feed';
import { LocationPanel, MessagingPanel, TenancyPanel, type Viewer } from './panels';
import { StatsView } from './stats';

type ConnectionState =
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'reconnecting'; inSeconds: number }
  | { state: 'closed' };

interface Me {
  email: string;
  tenant_id: string | null;
  role: 'tenant_owner' | 'user' | null;
  is_admin: boolean;
  memberships: { tenant_id: string; role: 'tenant_owner' | 'user' }[];
}
interface TenantInfo {
  tenant_id: string;
  name: string;
}

const api = new Api();
const feed = new FeedView();
const stats = new StatsView(api);
let viewer: Viewer | null = null;
const locationPanel = new LocationPanel(api);
const panels = [locationPanel, new MessagingPanel(api, () => viewer), new TenancyPanel(api)];
let socket: FeedClient | null = null;
/** Seqs the list shows (history and live), so a reload after a gap adds only what is new. */
const shown = new Set<number>();
let countdown: number | undefined;
let memberships: Me['memberships'] = [];

const signInSection = byId('sign-in');
const board = byId('board');
const signInMessage = byId('sign-in-message');
const connection = byId('conn');
const signOutButton = byId<HTMLButtonElement>('sign-out');

function notice(text: string, kind: 'info' | 'error' = 'info'): void {
  const item = h('p', { class: `toast ${kind}` }, text);
  byId('notices').append(item);
  window.setTimeout(() => item.remove(), 6_000);
}

function showConnection(state: ConnectionState): void {
  if (state.state !== 'reconnecting') window.clearInterval(countdown);
  connection.dataset.state = state.state;
  connection.textContent =
    state.state === 'connected'
      ? 'live'
      : state.state === 'connecting'
        ? 'connecting…'
        : state.state === 'reconnecting'
          ? `reconnecting in ${state.inSeconds} s`
          : 'not connected';
}

// --- sign-in ---------------------------------------------------------------------------------

function showSignIn(message = ''): void {
  stopBoard();
  signInMessage.textContent = message;
  byId('tenant-picker').hidden = true;
  byId('tenant-choices').replaceChildren();
  signInSection.hidden = false;
  board.hidden = true;
  signOutButton.hidden = true;
  byId('role').hidden = true;
  byId('tenant-switch-wrap').hidden = true;
  byId('tenant-name').textContent = '';
  byId<HTMLInputElement>('api-key').focus();
}

// While the person signs out, a poll or socket that meets the ended session (a 401 while the
// logout is under way) must not answer in its own words: the sign-out says what happened.
let signingOut = false;

api.onUnauthorized = (message) => {
  // Also a late answer to a call made before the sign-out: nobody is signed in any more.
  if (signingOut || !api.credential) return;
  saveCredential(null);
  api.credential = null;
  showSignIn(message);
};

function busy(form: HTMLFormElement, on: boolean): void {
  for (const control of Array.from(form.elements)) (control as HTMLButtonElement).disabled = on;
}

byId<HTMLFormElement>('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const apiKey = byId<HTMLInputElement>('api-key').value.trim();
  if (!apiKey) return;
  busy(form, true);
  signInMessage.textContent = '';
  api.credential = { kind: 'key', apiKey };
  api
    .call(api.client.GET('/api/v1/tenant/info'), { signOutOn401: false })
    .then(
      (info: TenantInfo) => enter({ kind: 'key', apiKey }, info),
      (error: unknown) => {
        api.credential = null;
        signInMessage.textContent =
          statusOf(error) === 401
            ? 'That API key was not accepted.'
            : `Could not sign in: ${describe(error)}`;
      },
    )
    .finally(() => busy(form, false));
});

byId<HTMLFormElement>('password-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const email = byId<HTMLInputElement>('email').value.trim();
  const password = byId<HTMLInputElement>('password').value;
  busy(form, true);
  signInMessage.textContent = '';
  api.credential = null;
  api
    .call(api.client.POST('/api/v1/auth/login', { body: { email, password } }), {
      signOutOn401: false,
    })
    .then(async (login) => {
      byId<HTMLInputElement>('password').value = '';
      const credential: Credential = {
        kind: 'bearer',
        token: login.access_token,
        email: login.user.email,
        tenantId: login.user.tenant_id,
        role: login.user.role,
        isAdmin: login.user.is_admin,
      };
      api.credential = credential;
      const me: Me = await api.call(api.client.GET('/api/v1/auth/me'));
      memberships = me.memberships;
      await chooseTenant(credential, me);
    })
    .catch((error: unknown) => {
      signInMessage.textContent =
        statusOf(error) === 401
          ? 'Wrong email or password.'
          : error instanceof TesseraError && error.status === 429
            ? `Too many attempts: rate limited, try again in ${error.retryAfterSeconds ?? 60} s.`
            : `Could not sign in: ${describe(error)}`;
    })
    .finally(() => busy(form, false));
});

async function tenantName(id: string): Promise<string> {
  try {
    // Asked as a member of that tenant (X-Tenant-ID), not of the session's default one.
    const tenant = await api.call(
      api.client.GET('/api/v1/tenants/{id}', {
        params: { path: { id } },
        headers: { 'x-tenant-id': id },
      }),
      { signOutOn401: false },
    );
    return tenant.name;
  } catch {
    return id;
  }
}

async function chooseTenant(
  credential: Extract<Credential, { kind: 'bearer' }>,
  me: Me,
): Promise<void> {
  let options: { id: string; role: 'tenant_owner' | 'user' | null }[] = me.memberships.map((m) => ({
    id: m.tenant_id,
    role: m.role,
  }));
  if (options.length === 0 && me.is_admin) {
    const page = await api.call(
      api.client.GET('/api/v1/tenants', { params: { query: { limit: 100 } } }),
    );
    options = page.data.map((t) => ({ id: t.id, role: null }));
  }
  if (options.length === 0) {
    signInMessage.textContent = 'This account is not a member of any tenant.';
    return;
  }
  if (options.length === 1) return pick(credential, options[0].id, options[0].role);
  const choices = byId('tenant-choices');
  const names = await Promise.all(options.map((o) => tenantName(o.id)));
  choices.replaceChildren(
    ...options.map((option, i) => {
      const button = h(
        'button',
        { type: 'button', 'data-tenant': option.id },
        `${names[i]}${option.role ? ` (${option.role.replace('_', ' ')})` : ''}`,
      );
      button.addEventListener('click', () => void pick(credential, option.id, option.role));
      return h('li', {}, button);
    }),
  );
  byId('tenant-picker').hidden = false;
  choices.querySelector<HTMLButtonElement>('button')?.focus();
}

async function pick(
  credential: Extract<Credential, { kind: 'bearer' }>,
  tenantId: string,
  role: 'tenant_owner' | 'user' | null,
): Promise<void> {
  const chosen: Credential = { ...credential, tenantId, role };
  api.credential = chosen;
  try {
    const info: TenantInfo = await api.call(api.client.GET('/api/v1/tenant/info'));
    enter(chosen, info);
  } catch (error) {
    if (statusOf(error) !== 401)
      signInMessage.textContent = `Could not open the tenant: ${describe(error)}`;
  }
}

signOutButton.addEventListener('click', () => void signOut());

async function signOut(): Promise<void> {
  const credential = api.credential;
  signingOut = true;
  stopBoard();
  try {
    if (credential?.kind === 'bearer') {
      try {
        await api.call(api.client.POST('/api/v1/auth/logout'), { signOutOn401: false });
      } catch (error) {
        if (statusOf(error) !== 401) notice(`Sign-out: ${describe(error)}`, 'error');
      }
    }
    saveCredential(null);
    api.credential = null;
    memberships = [];
    showSignIn('Signed out.');
  } finally {
    signingOut = false;
  }
}

// --- the board -------------------------------------------------------------------------------

function enter(credential: Credential, info: TenantInfo): void {
  saveCredential(credential);
  api.credential = credential;
  viewer = {
    tenantId: info.tenant_id,
    canManage:
      credential.kind === 'bearer' && (credential.role === 'tenant_owner' || credential.isAdmin),
  };
  signInSection.hidden = true;
  board.hidden = false;
  signOutButton.hidden = false;
  byId('tenant-name').textContent = info.name;
  const role = byId('role');
  role.hidden = false;
  role.textContent =
    credential.kind === 'key'
      ? 'API key'
      : credential.isAdmin
        ? 'platform admin'
        : (credential.role ?? 'member').replace('_', ' ');
  renderTenantSwitch(credential, info.tenant_id);
  startBoard(credential);
}

function renderTenantSwitch(credential: Credential, current: string): void {
  const wrap = byId('tenant-switch-wrap');
  const select = byId<HTMLSelectElement>('tenant-switch');
  if (credential.kind !== 'bearer' || memberships.length < 2) {
    wrap.hidden = true;
    return;
  }
  select.replaceChildren(
    ...memberships.map((m) =>
      h(
        'option',
        { value: m.tenant_id, selected: m.tenant_id === current },
        m.tenant_id.slice(0, 8),
      ),
    ),
  );
  wrap.hidden = false;
  void Promise.all(memberships.map((m) => tenantName(m.tenant_id))).then((names) => {
    Array.from(select.options).forEach(
      (option, i) => (option.textContent = names[i] ?? option.value),
    );
  });
  select.onchange = () => {
    const membership = memberships.find((m) => m.tenant_id === select.value);
    if (membership) void pick(credential, membership.tenant_id, membership.role);
  };
}

function startBoard(credential: Credential): void {
  stopBoard();
  feed.reset();
  shown.clear();
  stats.start();
  for (const panel of panels) panel.start();
  // Same origin, credentials as subprotocols (a browser cannot set headers on a WebSocket).
  const current = new FeedClient({
    credential:
      credential.kind === 'key'
        ? { apiKey: credential.apiKey }
        : { token: credential.token, tenantId: credential.tenantId ?? undefined },
    backoff: { initialMs: 500, maxMs: 15_000 },
  });
  const live = () => socket === current;
  current.on('open', () => live() && showConnection({ state: 'connected' }));
  current.on('event', (event) => live() && receive(event, true));
  current.on('gap', () => {
    if (!live()) return;
    feed.showNotice(
      'Some events were missed while disconnected (more than the server replays); reloading the newest.',
    );
    void loadHistory(current);
  });
  current.on('disconnect', ({ opened, attempt, retryInMs }) => {
    if (!live()) return;
    showReconnecting(retryInMs);
    // The upgrade failed twice in a row: a browser does not see its status, the API says why.
    if (!opened && attempt >= 2) checkCredential();
  });
  current.on('close', (reason) => {
    if (!live()) return;
    showConnection({ state: 'closed' });
    // The server ended or refused the credential (4401, 401/403): the API says so in words.
    if (reason.kind !== 'closed') checkCredential();
  });
  socket = current;
  window.tesseraDashboard = { socket: current };
  showConnection({ state: 'connecting' });
  void loadHistory(current).finally(() => {
    if (live()) current.start();
  });
}

/** "reconnecting in N s", counting down until the feed tries again. */
function showReconnecting(retryInMs: number): void {
  // One countdown at a time: a failed attempt before the last one's first tick must not leave
  // a timer behind that later turns a live feed back to "connecting…".
  window.clearInterval(countdown);
  const until = Date.now() + retryInMs;
  const left = () => Math.max(0, Math.ceil((until - Date.now()) / 1000));
  showConnection({ state: 'reconnecting', inSeconds: left() });
  countdown = window.setInterval(() => {
    const seconds = left();
    if (seconds > 0) showConnection({ state: 'reconnecting', inSeconds: seconds });
    else showConnection({ state: 'connecting' });
  }, 1000);
}

/** Asks the API whether the credential still works: a 401 signs out; a 429 is said. */
function checkCredential(): void {
  api.call(api.client.GET('/api/v1/tenant/info')).catch((error: unknown) => {
    if (statusOf(error) === 429) notice(`Live feed ${describe(error)}`, 'error');
  });
}

function receive(event: AnyFeedEvent, live: boolean): void {
  if (live) {
    stats.count(event);
    locationPanel.count(event);
  }
  // Live-only facts (no seq) are counted above, never listed.
  if (event.seq === null || shown.has(event.seq)) return;
  shown.add(event.seq);
  feed.add(event as FeedEvent);
}

async function loadHistory(current: FeedClient): Promise<void> {
  try {
    const page: { data: FeedEvent[] } = await api.call(
      api.client.GET('/api/v1/events', { params: { query: { limit: 100 } } }),
    );
    const fresh = page.data.filter((event) => !shown.has(event.seq));
    // The feed resumes after the newest event listed here, and drops what it has shown.
    for (const event of fresh) current.advanceTo(event.seq);
    for (const event of fresh.reverse()) receive(event, false);
  } catch (error) {
    if (statusOf(error) === 401) return;
    feed.showNotice(
      statusOf(error) === 404
        ? 'Event history is not available on this server; showing live events only.'
        : `Event history: ${describe(error)}`,
    );
  }
}

function stopBoard(): void {
  const current = socket;
  socket = null;
  current?.close('signed out');
  stats.stop();
  for (const panel of panels) panel.stop();
  showConnection({ state: 'closed' });
}

declare global {
  interface Window {
    /** For the browser tests: drop the socket as a network failure would. */
    tesseraDashboard?: { socket: FeedClient };
  }
}

// --- start -----------------------------------------------------------------------------------

const saved = api.credential;
if (saved) {
  api
    .call(api.client.GET('/api/v1/tenant/info'))
    .then((info: TenantInfo) => {
      if (saved.kind === 'bearer')
        return api.call(api.client.GET('/api/v1/auth/me')).then((me: Me) => {
          memberships = me.memberships;
          enter(saved, info);
        });
      enter(saved, info);
    })
    .catch((error: unknown) => {
      if (statusOf(error) !== 401) showSignIn(`Could not resume: ${describe(error)}`);
    });
} else {
  showSignIn();
}
