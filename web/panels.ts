import type { TesseraClient } from '@tessera/client';
import { type Api, describe, statusOf, TesseraError } from './api';
import { byId, figures, formatTime, h } from './dom';

/** Who the page signed in as: the owner's controls are drawn only for owners (and admins). */
export interface Viewer {
  tenantId: string;
  canManage: boolean;
}

/** A part of a panel: fetched by `load`, or (without it) drawn from what the page counted. */
type Section = {
  title: string;
  load?: (
    client: TesseraClient,
  ) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
  render: (body: unknown) => Node;
};

/**
 * A panel polls its routes; each route's failure is shown in words in its own place (404: the
 * module is not available on this server; 403: needs a tenant owner; 429: retried after
 * Retry-After), and never stops the rest of the page.
 */
abstract class Panel {
  private timer?: number;
  private stopped = false;
  protected readonly body: HTMLElement;

  constructor(
    protected readonly api: Api,
    bodyId: string,
    private readonly intervalMs = 5_000,
  ) {
    this.body = byId(bodyId);
  }

  protected abstract sections(): Section[];

  start(): void {
    this.stopped = false;
    this.body.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
  }

  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    let next = this.intervalMs;
    const parts = await Promise.all(
      this.sections().map(async (section) => {
        try {
          const body = section.load ? await this.api.call(section.load(this.api.client)) : null;
          return section.render(body);
        } catch (error) {
          const retryAfter =
            error instanceof TesseraError && error.status === 429
              ? (error.retryAfterSeconds ?? 5)
              : undefined;
          if (retryAfter !== undefined) next = Math.max(next, retryAfter * 1000);
          if (statusOf(error) === 404) next = Math.max(next, 30_000);
          const line = h('p', { class: `unavailable status-${statusOf(error)}` }, describe(error));
          if (retryAfter !== undefined) countDown(line, retryAfter);
          return line;
        }
      }),
    );
    if (this.stopped) return;
    const sections = parts.map((part, i) =>
      h('div', { class: 'section' }, h('h3', {}, this.sections()[i].title), part),
    );
    this.body.replaceChildren(...sections);
    this.timer = window.setTimeout(() => void this.refresh(), next);
  }
}

/** "rate limited, retrying in N s", N counting down until the panel asks again. */
function countDown(line: HTMLElement, seconds: number): void {
  const until = Date.now() + seconds * 1000;
  const tick = window.setInterval(() => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    if (!line.isConnected || left === 0) window.clearInterval(tick);
    line.textContent = `rate limited, retrying in ${left} s`;
  }, 1000);
}

function list(body: unknown): Record<string, unknown>[] {
  if (Array.isArray(body)) return body as Record<string, unknown>[];
  const data = (body as { data?: unknown } | null)?.data;
  return Array.isArray(data) ? (data as Record<string, unknown>[]) : [];
}

const text = (value: unknown): string => {
  if (value === null || value === undefined) return '–';
  return typeof value === 'string' ? value : JSON.stringify(value);
};

const LIVE_LOCATION_TYPES = [
  'session.started',
  'session.ended',
  'location.delivered',
  'location.dead_lettered',
  'location.resolved',
  'location.permanently_failed',
];

export class LocationPanel extends Panel {
  /** Location facts seen in the live feed since the page opened (delivered ones are not stored). */
  private readonly live = new Map<string, number>();

  constructor(api: Api) {
    super(api, 'location-body');
  }

  count(event: { source: string; event_type: string }): void {
    if (event.source !== 'location' || !LIVE_LOCATION_TYPES.includes(event.event_type)) return;
    this.live.set(event.event_type, (this.live.get(event.event_type) ?? 0) + 1);
  }

  override stop(): void {
    super.stop();
    this.live.clear();
  }

  protected sections(): Section[] {
    return [
      {
        title: 'Updates (live, since this page opened)',
        render: () =>
          figures(
            Object.fromEntries(LIVE_LOCATION_TYPES.map((type) => [type, this.live.get(type) ?? 0])),
          ),
      },
      {
        title: 'Your active sessions',
        load: (client) =>
          client.GET('/api/v1/location/sessions', {
            params: { query: { status: 'active', limit: 100 } },
          }),
        render: (body) => {
          const rows = list(body);
          const more = (body as { next_cursor?: unknown }).next_cursor ? '+' : '';
          return h(
            'p',
            { class: 'big', 'data-figure': 'active-sessions' },
            `${rows.length}${more}`,
          );
        },
      },
      {
        title: 'Streaming',
        load: (client) => client.GET('/api/v1/streaming/health'),
        render: (body) => figures(body),
      },
      {
        title: 'Retry ledger',
        load: (client) => client.GET('/api/v1/retry/stats'),
        render: (body) => figures(body),
      },
      {
        title: 'Failed updates',
        load: (client) =>
          client.GET('/api/v1/retry/failed', {
            params: { query: { status: 'permanently_failed', limit: 10 } },
          }),
        render: (body) => {
          const rows = list(body);
          if (rows.length === 0) return h('p', { class: 'muted' }, 'None');
          return h(
            'ul',
            { class: 'rows' },
            ...rows.map((row) =>
              h(
                'li',
                {},
                h('code', {}, text(row.event_id ?? row.id)),
                ` ${text(row.status)} · ${text(row.attempts)} attempts · ${text(row.last_error ?? row.error)}`,
              ),
            ),
          );
        },
      },
    ];
  }
}

interface QueueStatus {
  tenant_id: string;
  queue_name: string;
  workers: number;
  active_workers?: number;
  in_flight?: number;
  processed?: number;
  failed?: number;
  queue_depth?: number;
  dead_letter_depth?: number;
}

export class MessagingPanel extends Panel {
  constructor(
    api: Api,
    private readonly viewer: () => Viewer | null,
  ) {
    super(api, 'messaging-body');
  }

  protected sections(): Section[] {
    return [
      {
        title: 'Queues',
        load: (client) => client.GET('/api/v1/consumers/status'),
        render: (body) => this.queues(list(body)),
      },
      {
        title: 'Recent messages',
        load: (client) => client.GET('/api/v1/messages', { params: { query: { limit: 100 } } }),
        render: (body) =>
          this.recent(list(body), Boolean((body as { next_cursor?: unknown }).next_cursor)),
      },
      {
        title: 'Failed messages',
        load: (client) =>
          client.GET('/api/v1/messages', { params: { query: { status: 'failed', limit: 10 } } }),
        render: (body) => this.failed(list(body)),
      },
    ];
  }

  /** Any member may read messages: figures by status over the newest hundred. */
  private recent(rows: Record<string, unknown>[], more: boolean): Node {
    if (rows.length === 0) return h('p', { class: 'muted' }, 'No messages yet');
    const byStatus: Record<string, number> = {};
    for (const row of rows) byStatus[text(row.status)] = (byStatus[text(row.status)] ?? 0) + 1;
    return h(
      'div',
      { 'data-figure': 'recent-messages' },
      figures(byStatus),
      h('p', { class: 'muted' }, `over the newest ${rows.length}${more ? '' : ' (all)'}`),
    );
  }

  private queues(rows: Record<string, unknown>[]): Node {
    if (rows.length === 0) return h('p', { class: 'muted' }, 'No queues yet');
    const manage = this.viewer()?.canManage === true;
    const head = [
      'queue',
      'depth',
      'workers',
      'active',
      'in flight',
      'processed',
      'failed',
      'dead letters',
    ];
    const table = h(
      'table',
      { class: 'queues' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...head.map((name) => h('th', { scope: 'col' }, name)),
          manage ? h('th', { scope: 'col' }, 'change workers') : null,
        ),
      ),
    );
    const tbody = h('tbody');
    for (const raw of rows) {
      const row = raw as unknown as QueueStatus;
      const cells = [
        row.queue_depth,
        row.workers,
        row.active_workers,
        row.in_flight,
        row.processed,
        row.failed,
        row.dead_letter_depth,
      ].map((value) => h('td', {}, text(value)));
      const tr = h(
        'tr',
        { 'data-queue': row.queue_name },
        h('th', { scope: 'row' }, row.queue_name),
        ...cells,
      );
      tr.children[2]?.setAttribute('data-figure', 'workers');
      if (manage) tr.append(h('td', {}, this.workersControl(row)));
      tbody.append(tr);
    }
    table.append(tbody);
    return h('div', { class: 'scroll' }, table);
  }

  private workersControl(row: QueueStatus): Node {
    const id = `workers-${row.queue_name}`;
    const input = h('input', {
      id,
      type: 'number',
      min: 1,
      max: 50,
      value: row.workers,
      class: 'workers-input',
      'aria-label': `Workers for queue ${row.queue_name}`,
    });
    const button = h('button', { type: 'submit' }, 'Apply');
    const status = h('span', { class: 'muted', role: 'status' });
    const form = h(
      'form',
      { class: 'inline-form', 'data-queue': row.queue_name },
      input,
      button,
      status,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const workers = Number(input.value);
      if (!Number.isInteger(workers) || workers < 1 || workers > 50) {
        status.textContent = 'workers must be 1–50';
        return;
      }
      const tenantId = this.viewer()?.tenantId ?? row.tenant_id;
      button.disabled = true;
      status.textContent = 'saving…';
      this.api
        .call(
          this.api.client.PUT('/api/v1/tenants/{id}/consumers/{queue_name}/config', {
            params: { path: { id: tenantId, queue_name: row.queue_name } },
            body: { workers },
          }),
        )
        .then(
          () => {
            status.textContent = 'saved';
            return this.refresh();
          },
          (error: unknown) => {
            status.textContent = describe(error);
          },
        )
        .finally(() => {
          button.disabled = false;
        });
    });
    return form;
  }

  private failed(rows: Record<string, unknown>[]): Node {
    if (rows.length === 0) return h('p', { class: 'muted' }, 'None');
    const manage = this.viewer()?.canManage === true;
    return h(
      'ul',
      { class: 'rows' },
      ...rows.map((row) => {
        const id = text(row.id);
        const item = h(
          'li',
          { 'data-message': id },
          h('code', {}, id.slice(0, 8)),
          ` ${text(row.queue_name)} · ${text(row.attempts)} attempts · ${text(row.last_error)} `,
        );
        if (manage) {
          const button = h('button', { type: 'button', class: 'retry' }, 'Retry');
          button.addEventListener('click', () => {
            button.disabled = true;
            this.api
              .call(
                this.api.client.POST('/api/v1/messages/{id}/retry', {
                  params: { path: { id } },
                }),
              )
              .then(
                () => void this.refresh(),
                (error: unknown) => {
                  button.disabled = false;
                  item.append(h('span', { class: 'error' }, ` ${describe(error)}`));
                },
              );
          });
          item.append(button);
        }
        return item;
      }),
    );
  }
}

export class TenancyPanel extends Panel {
  constructor(api: Api) {
    super(api, 'tenancy-body', 15_000);
  }

  protected sections(): Section[] {
    return [
      {
        title: 'Tenant',
        load: (client) => client.GET('/api/v1/tenant/info'),
        render: (body) => {
          const info = body as {
            tenant_id: string;
            name: string;
            status?: string;
            database?: Record<string, unknown>;
            pool?: Record<string, unknown> | null;
          };
          return h(
            'div',
            {},
            figures({
              name: info.name,
              id: info.tenant_id,
              status: info.status,
              database: info.database,
            }),
            h('h4', {}, 'Connection pool'),
            info.pool
              ? figures(info.pool)
              : h('p', { class: 'muted' }, 'No pool open on this instance'),
            h('p', { class: 'muted' }, `Updated ${formatTime(new Date().toISOString())}`),
          );
        },
      },
    ];
  }
}
