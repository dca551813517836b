import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { Api, ApiError, type Credential, describe, saveCredential } from './api';
import { byId, h } from './dom';
import { FeedView } from './feed';
import { LocationPanel, MessagingPanel, TenancyPanel, type Viewer } from './panels';
import { type ConnectionState, type FeedEvent, FeedSocket } from './socket';
import { StatsView } from './stats';

interface LoginAnswer {
  access_token: string;
  user: {
    email: string;
    tenant_id: string | null;
    role: 'tenant_owner' | 'user' | null;
    is_admin: boolean;
  };
}
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
let socket: FeedSocket | null = null;
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
    .request<TenantInfo>('GET', '/api/v1/tenant/info', undefined, { signOutOn401: false })
    .then(
      (info) => enter({ kind: 'key', apiKey }, info),
      (error: unknown) => {
        api.credential = null;
        signInMessage.textContent =
          error instanceof ApiError && error.status === 401
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
    .request<LoginAnswer>(
      'POST',
      '/api/v1/auth/login',
      { email, password },
      { signOutOn401: false },
    )
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
      const me = await api.get<Me>('/api/v1/auth/me');
      memberships = me.memberships;
      await chooseTenant(credential, me);
    })
    .catch((error: unknown) => {
      signInMessage.textContent =
        error instanceof ApiError && error.status === 401
          ? 'Wrong email or password.'
          : error instanceof ApiError && error.status === 429
            ? `Too many attempts: rate limited, try again in ${error.retryAfterSeconds ?? 60} s.`
            : `Could not sign in: ${describe(error)}`;
    })
    .finally(() => busy(form, false));
});

async function tenantName(id: string): Promise<string> {
  try {
    // Asked as a member of that tenant (X-Tenant-ID), not of the session's default one.
    const tenant = await api.request<{ name: string }>('GET', `/api/v1/tenants/${id}`, undefined, {
      signOutOn401: false,
      tenantId: id,
    });
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
    const page = await api.get<{ data: { id: string; name: string }[] }>(
      '/api/v1/tenants?limit=100',
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
    const info = await api.get<TenantInfo>('/api/v1/tenant/info');
    enter(chosen, info);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401))
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
        await api.request('POST', '/api/v1/auth/logout', undefined, { signOutOn401: false });
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 401))
          notice(`Sign-out: ${describe(error)}`, 'error');
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
  stats.start();
  for (const panel of panels) panel.start();
  const current = new FeedSocket(credential, {
    onEvent: (event, live) => receive(event, live),
    onGap: () => {
      feed.showNotice(
        'Some events were missed while disconnected (more than the server replays); reloading the newest.',
      );
      void loadHistory(current);
    },
    onState: showConnection,
    onHello: () => undefined,
    onRepeatedFailure: () => {
      // A browser does not see the upgrade's status: ask the API whether the credential still works.
      api.get('/api/v1/tenant/info').catch((error: unknown) => {
        if (error instanceof ApiError && error.status === 429)
          notice(`Live feed ${describe(error)}`, 'error');
      });
    },
  });
  socket = current;
  window.tesseraDashboard = { socket: current };
  void loadHistory(current).finally(() => {
    if (socket === current) current.start();
  });
}

function receive(event: FeedEvent, live: boolean): void {
  feed.add(event);
  if (!live) return;
  stats.count(event);
  locationPanel.count(event);
}

async function loadHistory(current: FeedSocket): Promise<void> {
  try {
    const page = await api.get<{ data: FeedEvent[] }>('/api/v1/events?limit=100');
    const fresh = page.data.filter((event) => !current.hasSeen(event.seq));
    current.markSeen(fresh);
    for (const event of fresh.reverse()) receive(event, false);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    feed.showNotice(
      error instanceof ApiError && error.status === 404
        ? 'Event history is not available on this server; showing live events only.'
        : `Event history: ${describe(error)}`,
    );
  }
}

function stopBoard(): void {
  socket?.stop();
  socket = null;
  stats.stop();
  for (const panel of panels) panel.stop();
  showConnection({ state: 'closed' });
}

declare global {
  interface Window {
    /** For the browser tests: drop the socket as a network failure would. */
    tesseraDashboard?: { socket: FeedSocket };
  }
}

// --- start -----------------------------------------------------------------------------------

const saved = api.credential;
if (saved) {
  api
    .get<TenantInfo>('/api/v1/tenant/info')
    .then((info) => {
      if (saved.kind === 'bearer')
        return api.get<Me>('/api/v1/auth/me').then((me) => {
          memberships = me.memberships;
          enter(saved, info);
        });
      enter(saved, info);
    })
    .catch((error: unknown) => {
      if (!(error instanceof ApiError && error.status === 401))
        showSignIn(`Could not resume: ${describe(error)}`);
    });
} else {
  showSignIn();
}
