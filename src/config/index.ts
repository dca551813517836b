import { appConfig } from './app.config';
import { authConfig } from './auth.config';
import { awsConfig } from './aws.config';
import { cognitoConfig } from './cognito.config';
import { databaseConfig } from './database.config';
import { kafkaConfig } from './kafka.config';
import { rabbitmqConfig } from './rabbitmq.config';
import { redisConfig } from './redis.config';
import { tenancyConfig } from './tenancy.config';

export * from './app.config';
export * from './auth.config';
export * from './aws.config';
export * from './cognito.config';
export * from './config.errors';
export * from './database.config';
export * from './kafka.config';
export * from './rabbitmq.config';
export * from './redis.config';
export * from './tenancy.config';

/** Every namespace; each validates its variables when the app starts. */
export const configNamespaces = [
  appConfig,
  databaseConfig,
  redisConfig,
  kafkaConfig,
  rabbitmqConfig,
  awsConfig,
  cognitoConfig,
  authConfig,
  tenancyConfig,
];
export * from './load-env';
