/**
 * RabbitMQ's management API as the tests use it (queues, policies, connections), with the
 * credentials of this worker's broker URL; `VHOST` is this worker's virtual host, encoded for a path.
 */
const broker = new URL(process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const base = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';
const authorization = `Basic ${Buffer.from(
  `${decodeURIComponent(broker.username || 'guest')}:${decodeURIComponent(broker.password || 'guest')}`,
).toString('base64')}`;

export const VHOST = encodeURIComponent(decodeURIComponent(broker.pathname.slice(1)) || '/');

/** One call: `path` below `/api/` (e.g. `queues/${VHOST}/name`), a JSON body when given. */
export function rabbitManagement(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${base}/api/${path}`, {
    method,
    headers: { authorization, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
