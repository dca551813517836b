import type { TesseraClient } from '../src/index.js';
import type { operations } from '../src/schema.js';

/**
 * One call of every operation of the OpenAPI document through the typed client, with minimal
 * valid arguments, keyed by operationId. The package build type-checks it against the generated
 * types: a path, parameter or body the document does not have fails to compile, and
 * `satisfies Record<keyof operations, …>` fails for an operation without its call (or a call of
 * an operation that is gone). The e2e drift test sends each call and checks that it reaches the
 * operation of its key in the running app's document.
 */

const ID = '00000000-0000-4000-8000-000000000000';

export type OperationCall = (client: TesseraClient) => Promise<{ response: Response }>;

export const everyOperation = {
  'context.whoami': (c) => c.GET('/api/v1/context'),
  // Text and HTML answers are read as text.
  'metrics.scrape': (c) => c.GET('/metrics', { parseAs: 'text' }),
  'health.live': (c) => c.GET('/health/live'),
  'health.ready': (c) => c.GET('/health/ready'),
  'health.check': (c) => c.GET('/health'),
  'events.create': (c) => c.POST('/api/v1/events', { body: { type: 'order.created' } }),
  'events.list': (c) => c.GET('/api/v1/events'),
  'events.createBatch': (c) =>
    c.POST('/api/v1/events/batch', { body: { events: [{ type: 'order.created' }] } }),
  'events.stats': (c) => c.GET('/api/v1/events/stats'),
  'events.getRateLimit': (c) =>
    c.GET('/admin/tenants/{id}/event-rate-limit', { params: { path: { id: ID } } }),
  'events.setRateLimit': (c) =>
    c.PUT('/admin/tenants/{id}/event-rate-limit', {
      params: { path: { id: ID } },
      body: { points: 1, window_seconds: 1 },
    }),
  'events.clearRateLimit': (c) =>
    c.DELETE('/admin/tenants/{id}/event-rate-limit', { params: { path: { id: ID } } }),
  'tenants.create': (c) => c.POST('/api/v1/tenants', { body: { name: 'x' } }),
  'tenants.list': (c) => c.GET('/api/v1/tenants'),
  'tenants.get': (c) => c.GET('/api/v1/tenants/{id}', { params: { path: { id: ID } } }),
  'tenants.update': (c) =>
    c.PUT('/api/v1/tenants/{id}', { params: { path: { id: ID } }, body: { name: 'x' } }),
  'tenants.delete': (c) => c.DELETE('/api/v1/tenants/{id}', { params: { path: { id: ID } } }),
  'tenants.createApiKey': (c) =>
    c.POST('/api/v1/tenants/{id}/api-keys', { params: { path: { id: ID } } }),
  'tenants.revokeApiKey': (c) =>
    c.DELETE('/api/v1/tenants/{id}/api-keys/{key_id}', {
      params: { path: { id: ID, key_id: ID } },
    }),
  'tenant.info': (c) => c.GET('/api/v1/tenant/info'),
  'tenant.stats': (c) => c.GET('/api/v1/tenant/stats'),
  'tenant.listAudit': (c) => c.GET('/api/v1/tenant/audit'),
  'health.tenants': (c) => c.GET('/health/tenants'),
  'health.tenant': (c) => c.GET('/health/tenant/{id}', { params: { path: { id: ID } } }),
  'health.cache': (c) => c.GET('/health/cache'),
  'health.clearCache': (c) => c.POST('/admin/cache/clear'),
  'auth.register': (c) =>
    c.POST('/api/v1/auth/register', {
      body: { email: 'a@example.com', password: 'x', tenant_id: ID },
    }),
  'auth.login': (c) =>
    c.POST('/api/v1/auth/login', { body: { email: 'a@example.com', password: 'x' } }),
  'auth.refresh': (c) => c.POST('/api/v1/auth/refresh', { body: { refresh_token: 'x' } }),
  'auth.logout': (c) => c.POST('/api/v1/auth/logout'),
  'auth.me': (c) => c.GET('/api/v1/auth/me'),
  'auth.listSessions': (c) => c.GET('/api/v1/auth/sessions'),
  'auth.endSession': (c) =>
    c.DELETE('/api/v1/auth/sessions/{id}', { params: { path: { id: ID } } }),
  'tenants.listUsers': (c) => c.GET('/api/v1/tenants/{id}/users', { params: { path: { id: ID } } }),
  'tenants.addUser': (c) =>
    c.POST('/api/v1/tenants/{id}/users', {
      params: { path: { id: ID } },
      body: { email: 'a@example.com', role: 'user' },
    }),
  'tenants.changeUserRole': (c) =>
    c.PUT('/api/v1/tenants/{id}/users/{user_id}', {
      params: { path: { id: ID, user_id: ID } },
      body: { role: 'tenant_owner' },
    }),
  'tenants.removeUser': (c) =>
    c.DELETE('/api/v1/tenants/{id}/users/{user_id}', { params: { path: { id: ID, user_id: ID } } }),
  'tenant.listUsers': (c) => c.GET('/api/v1/tenant/users'),
  'tenant.addUser': (c) =>
    c.POST('/api/v1/tenant/users', { body: { email: 'a@example.com', role: 'user' } }),
  'tenant.getUser': (c) =>
    c.GET('/api/v1/tenant/users/{user_id}', { params: { path: { user_id: ID } } }),
  'tenant.changeUserRole': (c) =>
    c.PUT('/api/v1/tenant/users/{user_id}', {
      params: { path: { user_id: ID } },
      body: { role: 'tenant_owner' },
    }),
  'tenant.removeUser': (c) =>
    c.DELETE('/api/v1/tenant/users/{user_id}', { params: { path: { user_id: ID } } }),
  'location.startSession': (c) => c.POST('/api/v1/location/session/start', { body: {} }),
  'location.update': (c) =>
    c.POST('/api/v1/location/update', { body: { session_id: ID, latitude: -90, longitude: -180 } }),
  'location.updateBatch': (c) =>
    c.POST('/api/v1/location/updates', {
      body: { session_id: ID, points: [{ latitude: 0, longitude: 0 }] },
    }),
  'location.listSessions': (c) => c.GET('/api/v1/location/sessions'),
  'location.getSession': (c) =>
    c.GET('/api/v1/location/session/{id}', { params: { path: { id: ID } } }),
  'location.stopSession': (c) =>
    c.POST('/api/v1/location/session/{id}/stop', { params: { path: { id: ID } } }),
  'location.listLocations': (c) =>
    c.GET('/api/v1/location/session/{id}/locations', { params: { path: { id: ID } } }),
  'location.getDelivery': (c) => c.GET('/api/v1/location/delivery'),
  'location.setDelivery': (c) =>
    c.PUT('/api/v1/location/delivery', { body: { endpoint_url: 'https://hooks.example.com/x' } }),
  'retry.stats': (c) => c.GET('/api/v1/retry/stats'),
  'retry.listFailed': (c) => c.GET('/api/v1/retry/failed'),
  'retry.retryFailed': (c) =>
    c.POST('/api/v1/retry/failed/{id}/retry', { params: { path: { id: ID } } }),
  'streaming.health': (c) => c.GET('/api/v1/streaming/health'),
  'messaging.publish': (c) => c.POST('/api/v1/messages', { body: { payload: {} } }),
  'messaging.list': (c) => c.GET('/api/v1/messages'),
  'messaging.publishToTenant': (c) =>
    c.POST('/api/v1/tenants/{id}/messages', {
      params: { path: { id: ID } },
      body: { payload: {} },
    }),
  'messaging.listForTenant': (c) =>
    c.GET('/api/v1/tenants/{id}/messages', { params: { path: { id: ID } } }),
  'messaging.get': (c) => c.GET('/api/v1/messages/{id}', { params: { path: { id: ID } } }),
  'messaging.retry': (c) => c.POST('/api/v1/messages/{id}/retry', { params: { path: { id: ID } } }),
  'messaging.setConcurrency': (c) =>
    c.PUT('/api/v1/tenants/{id}/config/concurrency', {
      params: { path: { id: ID } },
      body: { workers: 1 },
    }),
  'messaging.configureQueue': (c) =>
    c.PUT('/api/v1/tenants/{id}/consumers/{queue_name}/config', {
      params: { path: { id: ID, queue_name: 'x' } },
      body: { workers: 1 },
    }),
  'messaging.getQueueStatus': (c) =>
    c.GET('/api/v1/tenants/{id}/consumers/{queue_name}/status', {
      params: { path: { id: ID, queue_name: 'x' } },
    }),
  'messaging.listQueueStatus': (c) => c.GET('/api/v1/consumers/status'),
  'dashboard.page': (c) => c.GET('/dashboard', { parseAs: 'text' }),
  'dashboard.asset': (c) =>
    c.GET('/dashboard/assets/{file}', { params: { path: { file: 'x' } }, parseAs: 'text' }),
} satisfies Record<keyof operations, OperationCall>;
