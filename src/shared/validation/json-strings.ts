import type { FieldProblem } from '../errors';

/**
 * Strings the API refuses anywhere in its input, key or value: U+0000 (PostgreSQL's text and jsonb
 * cannot hold it) and a lone UTF-16 surrogate (`"\ud800"` is valid JSON, but no UTF-8 text can
 * carry it: PostgreSQL, Kafka and RabbitMQ consumers would each fail on it differently).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function badStringReason(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain U+0000';
  if (LONE_SURROGATE.test(text)) return 'must not contain a lone UTF-16 surrogate';
  return null;
}

/**
 * The first bad string in a parsed JSON value, with its field path (`events.0.metadata.k`;
 * a bad key names the key's parent and says so). Iterative: a deeply nested body cannot
 * exhaust the stack.
 */
export function findBadString(value: unknown, root = ''): FieldProblem | null {
  const stack: Array<[unknown, string]> = [[value, root]];
  while (stack.length > 0) {
    const [node, at] = stack.pop()!;
    if (typeof node === 'string') {
      const reason = badStringReason(node);
      if (reason) return { field: at || '(body)', message: reason };
    } else if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push([node[i], join(at, String(i))]);
    } else if (node !== null && typeof node === 'object') {
      const entries = Object.entries(node as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i];
        const reason = badStringReason(key);
        if (reason) return { field: at || '(body)', message: `a key ${reason}` };
        stack.push([child, join(at, key)]);
      }
    }
  }
  return null;
}

const join = (at: string, key: string) => (at ? `${at}.${key}` : key);
