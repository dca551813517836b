import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { awsConfig, type AwsConfig } from '../../config';

/**
 * AWS SDK clients; the endpoint points at the emulator when AWS_ENDPOINT_URL is set. Every call
 * has a connect and a request timeout: a service that accepts and never answers fails the call
 * (2 attempts) instead of holding it.
 */
@Injectable()
export class AwsClients implements OnApplicationShutdown {
  readonly secretsManager: SecretsManagerClient;
  readonly cognito: CognitoIdentityProviderClient;

  constructor(@Inject(awsConfig.KEY) config: AwsConfig) {
    const options = {
      region: config.region,
      endpoint: config.endpoint,
      maxAttempts: 2,
      requestHandler: {
        connectionTimeout: config.connectTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        // Without it the SDK only logs a warning when the request timeout passes, and keeps waiting.
        throwOnRequestTimeout: true,
      },
    };
    this.secretsManager = new SecretsManagerClient(options);
    this.cognito = new CognitoIdentityProviderClient(options);
  }

  onApplicationShutdown(): void {
    this.secretsManager.destroy();
    this.cognito.destroy();
  }
}

@Global()
@Module({ providers: [AwsClients], exports: [AwsClients] })
export class AwsModule {}
