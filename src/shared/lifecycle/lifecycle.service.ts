import { Injectable } from '@nestjs/common';

/** Shutdown state shared by readiness and the workers: once draining, readiness answers 503. */
@Injectable()
export class LifecycleService {
  private drainingSince?: Date;

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  beginShutdown(): void {
    this.drainingSince ??= new Date();
  }
}
