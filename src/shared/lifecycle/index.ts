export * from './emit-lifecycle-event';
export * from './lifecycle.service';
