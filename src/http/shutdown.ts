import type { INestApplication } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { LifecycleService } from '../shared/lifecycle';

/**
 * SIGTERM, in order: readiness answers 503 (and stays so for `drainDelayMs`, so a load balancer
 * notices); then Nest closes: the HTTP server stops taking requests and lets in-flight ones
 * finish, consumers stop taking messages and finish the ones they hold, and the clients close.
 */
export async function gracefulShutdown(app: INestApplication, drainDelayMs: number): Promise<void> {
  app.get(LifecycleService).beginShutdown();
  if (drainDelayMs > 0) await sleep(drainDelayMs);
  await app.close();
}
