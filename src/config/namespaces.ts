import { appConfig } from './app.config';
import { authConfig } from './auth.config';
import { awsConfig } from './aws.config';
import { cognitoConfig } from './cognito.config';
import { databaseConfig } from './database.config';
import { eventsConfig } from './events.config';
import { kafkaConfig } from './kafka.config';
import { locationConfig } from './location.config';
import { messagingConfig } from './messaging.config';
import { metricsConfig } from './metrics.config';
import { rabbitmqConfig } from './rabbitmq.config';
import { realtimeConfig } from './realtime.config';
import { redisConfig } from './redis.config';
import { tenancyConfig } from './tenancy.config';

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
  locationConfig,
  messagingConfig,
  eventsConfig,
  realtimeConfig,
  metricsConfig,
];
