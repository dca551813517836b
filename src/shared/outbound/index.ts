export * from './address-policy';
export * from './outbound-http';
export * from './outbound.errors';
export * from './outbound.module';
