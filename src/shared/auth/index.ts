export * from './auth.decorators';
export * from './auth.guard';
export * from './request-authenticator';
