export { setSocketPrincipal } from './socket-principal';
export { runInTenantContext, TenantContext } from './tenant-context';
export { TenantContextInterceptor } from './tenant-context.interceptor';
export { TenantContextModule } from './tenant-context.module';
export {
  type Principal,
  REQUEST_ID_HEADER,
  TENANT_HEADER,
  type TenantContextStore,
  type TenantRole,
} from './tenant-context.types';
