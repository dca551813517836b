export * from './lifecycle.service';
