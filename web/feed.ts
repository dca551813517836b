import { byId, formatTime, h } from './dom';
import type { FeedEvent as AnyFeedEvent } from '@tessera/client';

const MAX_ROWS = 500;

/** A stored event (live-only facts have no seq and are not listed). */
export type FeedEvent = AnyFeedEvent & { seq: number };

/** The live feed: newest first, filters by type and source, pause with a backlog, auto-scroll. */
export class FeedView {
  private readonly list = byId<HTMLOListElement>('feed-list');
  private readonly typeFilter = byId<HTMLSelectElement>('filter-type');
  private readonly sourceFilter = byId<HTMLSelectElement>('filter-source');
  private readonly pauseButton = byId<HTMLButtonElement>('pause');
  private readonly autoscroll = byId<HTMLInputElement>('autoscroll');
  private readonly count = byId('feed-count');
  private readonly notice = byId('feed-notice');
  private readonly types = new Set<string>();
  private readonly sources = new Set<string>();
  private paused = false;
  private backlog: FeedEvent[] = [];

  constructor() {
    this.typeFilter.addEventListener('change', () => this.applyFilters());
    this.sourceFilter.addEventListener('change', () => this.applyFilters());
    this.pauseButton.addEventListener('click', () => this.setPaused(!this.paused));
  }

  reset(): void {
    this.list.replaceChildren();
    this.backlog = [];
    this.types.clear();
    this.sources.clear();
    for (const select of [this.typeFilter, this.sourceFilter]) {
      select.replaceChildren(h('option', { value: '' }, 'all'));
    }
    this.setPaused(false);
    this.hideNotice();
    this.updateCount();
  }

  add(event: FeedEvent): void {
    this.remember(event);
    if (this.paused) {
      this.backlog.push(event);
      this.updateCount();
      return;
    }
    this.insert(event);
    this.updateCount();
    if (this.autoscroll.checked) this.list.scrollTop = 0;
  }

  showNotice(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = false;
  }

  hideNotice(): void {
    this.notice.hidden = true;
    this.notice.textContent = '';
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    this.pauseButton.textContent = paused ? 'Resume' : 'Pause';
    this.pauseButton.setAttribute('aria-pressed', String(paused));
    if (!paused && this.backlog.length > 0) {
      const waiting = this.backlog;
      this.backlog = [];
      for (const event of waiting) this.insert(event);
      if (this.autoscroll.checked) this.list.scrollTop = 0;
    }
    this.updateCount();
  }

  /** Keeps rows ordered by seq, newest first, whatever order they arrive in. */
  private insert(event: FeedEvent): void {
    const row = this.row(event);
    let before: Element | null = this.list.firstElementChild;
    while (before && Number((before as HTMLElement).dataset.seq) > event.seq) {
      before = before.nextElementSibling;
    }
    this.list.insertBefore(row, before);
    while (this.list.childElementCount > MAX_ROWS) this.list.lastElementChild?.remove();
  }

  private row(event: FeedEvent): HTMLLIElement {
    const metadata =
      event.metadata && Object.keys(event.metadata).length > 0
        ? JSON.stringify(event.metadata)
        : '';
    const row = h(
      'li',
      {
        class: 'event',
        'data-seq': event.seq,
        'data-type': event.event_type,
        'data-source': event.source,
        'data-id': event.id ?? undefined,
      },
      h('time', { datetime: event.timestamp }, formatTime(event.timestamp)),
      h('span', { class: 'source' }, event.source),
      h('span', { class: 'type' }, event.event_type),
      h('span', { class: 'seq muted' }, `#${event.seq}`),
      metadata
        ? h(
            'code',
            { class: 'meta' },
            metadata.length > 160 ? `${metadata.slice(0, 160)}…` : metadata,
          )
        : null,
    );
    row.hidden = !this.matches(row);
    return row;
  }

  private remember(event: FeedEvent): void {
    addOption(this.typeFilter, this.types, event.event_type);
    addOption(this.sourceFilter, this.sources, event.source);
  }

  private matches(row: HTMLElement): boolean {
    const type = this.typeFilter.value;
    const source = this.sourceFilter.value;
    return (!type || row.dataset.type === type) && (!source || row.dataset.source === source);
  }

  private applyFilters(): void {
    for (const row of Array.from(this.list.children) as HTMLElement[])
      row.hidden = !this.matches(row);
    this.updateCount();
  }

  private updateCount(): void {
    const shown = Array.from(this.list.children).filter(
      (row) => !(row as HTMLElement).hidden,
    ).length;
    const waiting = this.backlog.length ? ` · ${this.backlog.length} new while paused` : '';
    this.count.textContent = `${shown} shown${waiting}`;
  }
}

function addOption(select: HTMLSelectElement, known: Set<string>, value: string): void {
  if (known.has(value)) return;
  known.add(value);
  const options = Array.from(select.options).slice(1);
  const next = options.find((option) => option.value.localeCompare(value) > 0) ?? null;
  select.insertBefore(h('option', { value }, value), next);
}
