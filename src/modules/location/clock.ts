import { Injectable } from '@nestjs/common';

/** The retry schedule's time source: a port, so tests can run the 1…128-minute schedule in seconds. */
export abstract class Clock {
  abstract now(): Date;
}

@Injectable()
export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }
}
