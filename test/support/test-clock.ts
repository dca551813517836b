import { Clock } from '../../src/modules/location';

/** The location retry schedule's clock, moved by the test (every app instance given it shares it). */
export class TestClock extends Clock {
  at = Date.now();
  now(): Date {
    return new Date(this.at);
  }
}
