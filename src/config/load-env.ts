import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Loads the git-ignored `.env.local` (written by scripts/services.sh: the emulator's Cognito
 * ids) and `.env` when present. Variables already set in the environment win.
 */
export function loadLocalEnv(root = process.cwd()): void {
  for (const file of ['.env.local', '.env']) {
    const path = resolve(root, file);
    if (existsSync(path)) process.loadEnvFile(path);
  }
}
