import type { ArgumentsHost } from '@nestjs/common';
import { AppError, commonError } from './app-error';
import { DEFAULT_RETRY_AFTER_SECONDS, ErrorFilter } from './error.filter';

/** An HTTP host whose reply records the status and headers it was given. */
function httpHost() {
  const headers: Record<string, string> = {};
  const answer = { status: 0 };
  const reply = {
    headers: (more: Record<string, string>) => Object.assign(headers, more),
    header: (name: string, value: string) => (headers[name] = value),
    hasHeader: (name: string) =>
      Object.keys(headers).some((key) => key.toLowerCase() === name.toLowerCase()),
    status: (status: number) => ((answer.status = status), reply),
    send: () => reply,
  };
  const host = {
    getType: () => 'http',
    switchToHttp: () => ({ getResponse: () => reply, getRequest: () => ({ id: 'req-1' }) }),
  } as unknown as ArgumentsHost;
  return { host, headers, answer };
}

describe('ErrorFilter', () => {
  it('every 503 and 429 says when to come back: its own Retry-After, else the default', () => {
    const filter = new ErrorFilter();
    const down = httpHost();
    filter.catch(commonError('COMMON.DEPENDENCY_UNAVAILABLE', 'down'), down.host);
    expect([down.answer.status, down.headers['Retry-After']]).toEqual([
      503,
      String(DEFAULT_RETRY_AFTER_SECONDS),
    ]);

    const limited = httpHost();
    filter.catch(
      new AppError('X.LIMITED', 429, 'slow down').withHeaders({ 'Retry-After': '7' }),
      limited.host,
    );
    expect([limited.answer.status, limited.headers]).toEqual([429, { 'Retry-After': '7' }]);

    const missing = httpHost();
    filter.catch(commonError('COMMON.VALIDATION', 'bad'), missing.host);
    expect([missing.answer.status, missing.headers]).toEqual([400, {}]);
  });
});
