import type { ClsStore, Terminal } from 'nestjs-cls';
import type { EntityManager } from 'typeorm';

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
  /** The open tenant transaction (set by the tenancy module's TenantDatabase), already scoped by `app.tenant_id`. */
  tenantTransaction?: Terminal<{ tenantId: string; manager: EntityManager }>;
}

/** Headers carried by every Kafka and RabbitMQ message. */
export const TENANT_HEADER = 'x-tenant-id';
export const REQUEST_ID_HEADER = 'x-request-id';
