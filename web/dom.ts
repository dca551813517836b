/** Small DOM helpers: every text goes in through textContent (no HTML from data, ever). */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === 'class') element.className = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(child);
  }
  return element;
}

/** Figures of an answer whose exact shape may differ per module: primitive leaves, two levels deep. */
export function figures(value: unknown, limit = 14): HTMLElement {
  const rows: [string, string][] = [];
  const walk = (node: unknown, prefix: string, depth: number) => {
    if (rows.length >= limit || node === null || node === undefined) return;
    if (typeof node !== 'object') {
      rows.push([prefix, typeof node === 'string' ? node : JSON.stringify(node)]);
      return;
    }
    if (Array.isArray(node)) {
      rows.push([prefix, `${node.length} item${node.length === 1 ? '' : 's'}`]);
      return;
    }
    if (depth > 2) return;
    for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
      walk(child, prefix ? `${prefix} ${key}` : key, depth + 1);
    }
  };
  walk(value, '', 0);
  const list = h('dl', { class: 'figures' });
  for (const [key, text] of rows)
    list.append(h('dt', {}, key.replace(/_/g, ' ')), h('dd', {}, text));
  return list;
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleTimeString();
}
