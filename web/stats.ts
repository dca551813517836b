import uPlot from 'uplot';
import { type Api, describe, statusOf, TesseraError } from './api';
import { byId, h } from './dom';
import type { FeedEvent } from '@tessera/client';

interface Stats {
  total: number;
  by_type: { event_type: string; count: number }[];
  by_time: { bucket_start: string; count: number }[];
}

const RANGES: Record<string, { ms: number; bucket: 'minute' | 'hour' | 'day' }> = {
  '15m': { ms: 15 * 60_000, bucket: 'minute' },
  '1h': { ms: 60 * 60_000, bucket: 'minute' },
  '24h': { ms: 24 * 60 * 60_000, bucket: 'hour' },
  '7d': { ms: 7 * 24 * 60 * 60_000, bucket: 'day' },
};
const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const REFRESH_MS = 30_000;

/** Events by type (bars) and over time (uPlot), from /events/stats, kept current by the feed. */
export class StatsView {
  private readonly range = byId<HTMLSelectElement>('range');
  private readonly byType = byId<HTMLUListElement>('by-type');
  private readonly chartBox = byId('by-time');
  private readonly status = byId('stats-status');
  private readonly total = byId('stats-total');
  private counts = new Map<string, number>();
  private buckets = new Map<number, number>();
  private sum = 0;
  private since = 0;
  private chart?: uPlot;
  private timer?: number;
  private renderQueued = false;
  private available = true;
  private readonly resize = new ResizeObserver(() => this.chart?.setSize(this.size()));

  constructor(private readonly api: Api) {
    this.range.addEventListener('change', () => void this.load());
    this.resize.observe(this.chartBox);
  }

  start(): void {
    void this.load();
  }

  stop(): void {
    window.clearTimeout(this.timer);
    this.chart?.destroy();
    this.chart = undefined;
  }

  /** A live event counts at once; the periodic reload corrects any drift. */
  count(event: FeedEvent): void {
    if (!this.available) return;
    const at = Date.parse(event.timestamp);
    if (!Number.isFinite(at) || at < this.since) return;
    this.counts.set(event.event_type, (this.counts.get(event.event_type) ?? 0) + 1);
    const bucket = this.bucketOf(at);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + 1);
    this.sum += 1;
    this.queueRender();
  }

  private get selected() {
    return RANGES[this.range.value] ?? RANGES['1h'];
  }

  private bucketOf(at: number): number {
    const size = BUCKET_MS[this.selected.bucket];
    return Math.floor(at / size) * size;
  }

  private async load(): Promise<void> {
    window.clearTimeout(this.timer);
    const { ms, bucket } = this.selected;
    const since = Date.now() - ms;
    let next = REFRESH_MS;
    try {
      const stats: Stats = await this.api.call(
        this.api.client.GET('/api/v1/events/stats', {
          params: { query: { since: new Date(since).toISOString(), bucket } },
        }),
      );
      this.available = true;
      this.since = since;
      this.counts = new Map(stats.by_type.map((row) => [row.event_type, row.count]));
      this.buckets = new Map(stats.by_time.map((row) => [Date.parse(row.bucket_start), row.count]));
      this.sum = stats.total;
      this.status.textContent = '';
      this.render();
    } catch (error) {
      if (statusOf(error) === 401) return;
      if (statusOf(error) === 404) {
        this.available = false;
        next = 60_000;
      }
      if (error instanceof TesseraError && error.status === 429)
        next = (error.retryAfterSeconds ?? 5) * 1000;
      this.status.textContent = `Stats ${describe(error)}`;
    }
    this.timer = window.setTimeout(() => void this.load(), next);
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    window.requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  private render(): void {
    this.total.textContent = `${this.sum} in range`;
    const rows = [...this.counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const max = rows[0]?.[1] ?? 1;
    this.byType.replaceChildren(
      ...rows.slice(0, 20).map(([type, count]) => {
        const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
        bar.style.width = `${Math.max(2, (count / max) * 100)}%`;
        return h(
          'li',
          { 'data-type': type },
          h('span', { class: 'name' }, type),
          h('span', { class: 'track' }, bar),
          h('span', { class: 'count' }, String(count)),
        );
      }),
    );
    if (rows.length === 0)
      this.byType.append(h('li', { class: 'muted' }, 'No events in this range yet'));
    this.renderChart();
  }

  private renderChart(): void {
    const size = BUCKET_MS[this.selected.bucket];
    const first = this.bucketOf(this.since || Date.now() - this.selected.ms);
    const last = this.bucketOf(Date.now());
    const xs: number[] = [];
    const ys: number[] = [];
    for (let at = first; at <= last; at += size) {
      xs.push(at / 1000);
      ys.push(this.buckets.get(at) ?? 0);
    }
    const data: uPlot.AlignedData = [xs, ys];
    if (this.chart) {
      this.chart.setData(data);
      return;
    }
    this.chart = new uPlot(
      {
        ...this.size(),
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{ stroke: '#9aa4b2' }, { stroke: '#9aa4b2', size: 40 }],
        series: [
          {},
          {
            label: 'events',
            stroke: '#3b82f6',
            fill: 'rgba(59, 130, 246, 0.35)',
            paths: uPlot.paths.bars?.({ size: [0.8, 40] }),
            points: { show: false },
          },
        ],
      },
      data,
      this.chartBox,
    );
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.chartBox.clientWidth), height: 180 };
  }
}
