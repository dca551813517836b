import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';

/** Runs one dependency probe with a deadline and reports status and latency. */
@Injectable()
export class DependencyHealth {
  constructor(private readonly indicators: HealthIndicatorService) {}

  async probe<const K extends string>(
    key: K,
    check: () => Promise<unknown>,
    timeoutMs = 2_000,
  ): Promise<HealthIndicatorResult<K>> {
    const indicator = this.indicators.check(key);
    const started = performance.now();
    try {
      await withTimeout(check(), timeoutMs);
      return indicator.up({ latency_ms: round(performance.now() - started) });
    } catch (error) {
      return indicator.down({
        latency_ms: round(performance.now() - started),
        message: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
