import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { awsConfig, type AwsConfig } from '../../config';

/** AWS SDK clients; the endpoint points at the emulator when AWS_ENDPOINT_URL is set. */
@Injectable()
export class AwsClients implements OnApplicationShutdown {
  readonly secretsManager: SecretsManagerClient;
  readonly cognito: CognitoIdentityProviderClient;

  constructor(@Inject(awsConfig.KEY) config: AwsConfig) {
    const options = { region: config.region, endpoint: config.endpoint, maxAttempts: 2 };
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
