import { generateAuthToken } from 'aws-msk-iam-sasl-signer-js';
import type { KafkaConfig as KafkaJsConfig, SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../../config';

/**
 * How the clients reach the brokers: TLS (a private CA, an optional client certificate) and SASL
 * — PLAIN or SCRAM with a user and password, or AWS MSK IAM, whose OAUTHBEARER token AWS's own
 * signer makes from the SDK's default credential chain (renewed by kafkajs on each connection).
 */
export function kafkaConnectionOptions(
  config: KafkaConfig,
  region: string,
): Pick<KafkaJsConfig, 'ssl' | 'sasl'> {
  const { ssl, sasl } = config;
  const options: Pick<KafkaJsConfig, 'ssl' | 'sasl'> = {};
  if (ssl) {
    options.ssl =
      ssl.ca || ssl.cert
        ? {
            ...(ssl.ca && { ca: [ssl.ca] }),
            ...(ssl.cert && { cert: ssl.cert, key: ssl.key }),
          }
        : true;
  }
  options.sasl = saslOptions(sasl, region);
  if (!options.sasl) delete options.sasl;
  return options;
}

function saslOptions(sasl: KafkaConfig['sasl'], region: string): SASLOptions | undefined {
  const { mechanism, username = '', password = '' } = sasl;
  switch (mechanism) {
    case 'none':
      return undefined;
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
    case 'aws-msk-iam':
      return {
        mechanism: 'oauthbearer',
        oauthBearerProvider: async () => ({ value: (await generateAuthToken({ region })).token }),
      };
  }
}
