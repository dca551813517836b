import { ConfigModule } from '@nestjs/config';
import { configNamespaces } from './namespaces';

/** Every validated namespace, global; the environment is read by `loadLocalEnv`, not here. */
export const AppConfigModule = ConfigModule.forRoot({
  isGlobal: true,
  cache: true,
  ignoreEnvFile: true,
  load: configNamespaces,
});
