import { PlatformRegistry1700000000001 } from './1700000000001-platform-registry';

/** Platform migrations, in order. Listed explicitly: no globs. */
export const platformMigrations = [PlatformRegistry1700000000001];
