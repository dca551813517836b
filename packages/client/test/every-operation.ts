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
  ContextController_whoami: (c) => c.GET('/api/v1/context'),
  // Text and HTML answers are read as text.
  MetricsController_index: (c) => c.GET('/metrics', { parseAs: 'text' }),
  HealthController_live: (c) => c.GET('/health/live'),
  'HealthController_ready[0]': (c) => c.GET('/health/ready'),
  'HealthController_ready[1]': (c) => c.GET('/health'),
  EventsController_create: (c) => c.POST('/api/v1/events', { body: {} }),
  EventsController_list: (c) => c.GET('/api/v1/events'),
  EventsController_batch: (c) => c.POST('/api/v1/events/batch', { body: { events: [{}] } }),
  EventsController_stats: (c) => c.GET('/api/v1/events/stats'),
  EventLimitsController_get: (c) =>
    c.GET('/admin/tenants/{id}/event-rate-limit', { params: { path: { id: ID } } }),
  EventLimitsController_set: (c) =>
    c.PUT('/admin/tenants/{id}/event-rate-limit', {
      params: { path: { id: ID } },
      body: { points: 1, window_seconds: 1 },
    }),
  EventLimitsController_clear: (c) =>
    c.DELETE('/admin/tenants/{id}/event-rate-limit', { params: { path: { id: ID } } }),
  TenantsController_create: (c) => c.POST('/api/v1/tenants', { body: { name: 'x' } }),
  TenantsController_list: (c) => c.GET('/api/v1/tenants'),
  TenantsController_get: (c) => c.GET('/api/v1/tenants/{id}', { params: { path: { id: ID } } }),
  TenantsController_update: (c) =>
    c.PUT('/api/v1/tenants/{id}', { params: { path: { id: ID } }, body: {} }),
  TenantsController_remove: (c) =>
    c.DELETE('/api/v1/tenants/{id}', { params: { path: { id: ID } } }),
  TenantsController_createKey: (c) =>
    c.POST('/api/v1/tenants/{id}/api-keys', { params: { path: { id: ID } } }),
  TenantsController_revokeKey: (c) =>
    c.DELETE('/api/v1/tenants/{id}/api-keys/{key_id}', {
      params: { path: { id: ID, key_id: ID } },
    }),
  CurrentTenantController_info: (c) => c.GET('/api/v1/tenant/info'),
  CurrentTenantController_stats: (c) => c.GET('/api/v1/tenant/stats'),
  TenancyHealthController_tenantsHealth: (c) => c.GET('/health/tenants'),
  TenancyHealthController_tenantHealth: (c) =>
    c.GET('/health/tenant/{id}', { params: { path: { id: ID } } }),
  TenancyHealthController_cache: (c) => c.GET('/health/cache'),
  TenancyHealthController_clear: (c) => c.POST('/admin/cache/clear'),
  AuthController_register: (c) => c.POST('/api/v1/auth/register', { body: {} }),
  AuthController_login: (c) => c.POST('/api/v1/auth/login', { body: {} }),
  AuthController_refresh: (c) => c.POST('/api/v1/auth/refresh', { body: { refresh_token: 'x' } }),
  AuthController_logout: (c) => c.POST('/api/v1/auth/logout'),
  AuthController_me: (c) => c.GET('/api/v1/auth/me'),
  AuthController_list: (c) => c.GET('/api/v1/auth/sessions'),
  AuthController_end: (c) =>
    c.DELETE('/api/v1/auth/sessions/{id}', { params: { path: { id: ID } } }),
  TenantUsersController_list: (c) =>
    c.GET('/api/v1/tenants/{id}/users', { params: { path: { id: ID } } }),
  TenantUsersController_add: (c) =>
    c.POST('/api/v1/tenants/{id}/users', {
      params: { path: { id: ID } },
      body: { email: 'a@example.com', role: 'user' },
    }),
  TenantUsersController_changeRole: (c) =>
    c.PUT('/api/v1/tenants/{id}/users/{user_id}', {
      params: { path: { id: ID, user_id: ID } },
      body: { role: 'tenant_owner' },
    }),
  TenantUsersController_remove: (c) =>
    c.DELETE('/api/v1/tenants/{id}/users/{user_id}', { params: { path: { id: ID, user_id: ID } } }),
  CurrentTenantUsersController_list: (c) => c.GET('/api/v1/tenant/users'),
  CurrentTenantUsersController_add: (c) =>
    c.POST('/api/v1/tenant/users', { body: { email: 'a@example.com', role: 'user' } }),
  CurrentTenantUsersController_get: (c) =>
    c.GET('/api/v1/tenant/users/{user_id}', { params: { path: { user_id: ID } } }),
  CurrentTenantUsersController_changeRole: (c) =>
    c.PUT('/api/v1/tenant/users/{user_id}', {
      params: { path: { user_id: ID } },
      body: { role: 'tenant_owner' },
    }),
  CurrentTenantUsersController_remove: (c) =>
    c.DELETE('/api/v1/tenant/users/{user_id}', { params: { path: { user_id: ID } } }),
  LocationController_start: (c) => c.POST('/api/v1/location/session/start', { body: {} }),
  LocationController_update: (c) =>
    c.POST('/api/v1/location/update', { body: { session_id: ID, latitude: -90, longitude: -180 } }),
  LocationController_updatesBatch: (c) =>
    c.POST('/api/v1/location/updates', { body: { session_id: ID, points: [{}] } }),
  LocationController_list: (c) => c.GET('/api/v1/location/sessions'),
  LocationController_get: (c) =>
    c.GET('/api/v1/location/session/{id}', { params: { path: { id: ID } } }),
  LocationController_stop: (c) =>
    c.POST('/api/v1/location/session/{id}/stop', { params: { path: { id: ID } } }),
  LocationController_locations: (c) =>
    c.GET('/api/v1/location/session/{id}/locations', { params: { path: { id: ID } } }),
  DeliveryController_get: (c) => c.GET('/api/v1/location/delivery'),
  DeliveryController_put: (c) =>
    c.PUT('/api/v1/location/delivery', { body: { endpoint_url: 'x' } }),
  RetryController_stats: (c) => c.GET('/api/v1/retry/stats'),
  RetryController_list: (c) => c.GET('/api/v1/retry/failed'),
  RetryController_replay: (c) =>
    c.POST('/api/v1/retry/failed/{id}/retry', { params: { path: { id: ID } } }),
  StreamingController_get: (c) => c.GET('/api/v1/streaming/health'),
  MessagingController_publish: (c) => c.POST('/api/v1/messages', { body: {} }),
  MessagingController_list: (c) => c.GET('/api/v1/messages'),
  MessagingController_publishToTenant: (c) =>
    c.POST('/api/v1/tenants/{id}/messages', { params: { path: { id: ID } }, body: {} }),
  MessagingController_listForTenant: (c) =>
    c.GET('/api/v1/tenants/{id}/messages', { params: { path: { id: ID } } }),
  MessagingController_get: (c) => c.GET('/api/v1/messages/{id}', { params: { path: { id: ID } } }),
  MessagingController_retry: (c) =>
    c.POST('/api/v1/messages/{id}/retry', { params: { path: { id: ID } } }),
  MessagingController_setConcurrency: (c) =>
    c.PUT('/api/v1/tenants/{id}/config/concurrency', { params: { path: { id: ID } }, body: {} }),
  MessagingController_configureQueue: (c) =>
    c.PUT('/api/v1/tenants/{id}/consumers/{queue_name}/config', {
      params: { path: { id: ID, queue_name: 'x' } },
      body: { workers: 1 },
    }),
  MessagingController_queueStatus: (c) =>
    c.GET('/api/v1/tenants/{id}/consumers/{queue_name}/status', {
      params: { path: { id: ID, queue_name: 'x' } },
    }),
  MessagingController_allStatus: (c) => c.GET('/api/v1/consumers/status'),
  DashboardController_page: (c) => c.GET('/dashboard', { parseAs: 'text' }),
  DashboardController_file: (c) =>
    c.GET('/dashboard/assets/{file}', { params: { path: { file: 'x' } }, parseAs: 'text' }),
} satisfies Record<keyof operations, OperationCall>;
