export * from './auth.decorators';
export * from './auth.guard';
export * from './header-tenant.authenticator';
export * from './request-authenticator';
