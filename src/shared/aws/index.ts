export * from './aws.module';
