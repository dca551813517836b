export { LoggingModule } from './logging.module';
export * from './request-logging';
