import type { ClsStore } from 'nestjs-cls';

export type Transport = 'http' | 'ws' | 'kafka' | 'rabbitmq' | 'internal';
export type TenantRole = 'tenant_owner' | 'user';

/** Who is doing this unit of work. Set once at the entry point, read everywhere below it. */
export interface Principal {
  tenantId?: string;
  userId?: string;
  email?: string;
  role?: TenantRole;
  isPlatformAdmin: boolean;
  /** How the caller proved who it is. */
  via: 'session' | 'api_key' | 'header' | 'message';
  sessionId?: string;
}

export interface TenantContextStore extends ClsStore {
  transport: Transport;
  principal?: Principal;
}

/** Headers carried by every Kafka and RabbitMQ message. */
export const TENANT_HEADER = 'x-tenant-id';
export const REQUEST_ID_HEADER = 'x-request-id';
