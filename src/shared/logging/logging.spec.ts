import { ClsService, ClsServiceManager, CLS_ID } from 'nestjs-cls';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Writable } from 'node:stream';
import pino from 'pino';
import { contextFields, REDACTED_PATHS } from './logging.module';

describe('logging', () => {
  it('adds the request id and tenant id of the current context to every line', async () => {
    const cls = new ClsService(new AsyncLocalStorage());
    jest.spyOn(ClsServiceManager, 'getClsService').mockReturnValue(cls);
    expect(contextFields()).toEqual({});
    await cls.run(() => {
      cls.set(CLS_ID, 'req-1');
      cls.set('principal', { tenantId: 'tenant-a', isPlatformAdmin: false, via: 'message' });
      expect(contextFields()).toEqual({ request_id: 'req-1', tenant_id: 'tenant-a' });
      return Promise.resolve();
    });
  });

  it('redacts authorization headers, passwords, secrets and tokens', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
    logger.info({
      req: { headers: { authorization: 'Bearer abc.def', 'x-api-key': 'tsk_live_1', host: 'h' } },
      body: { password: 'hunter2', refresh_token: 'r1', name: 'ok' },
      secret: { SecretString: '{"password":"p"}' },
    });
    const line = lines.join('');
    for (const leaked of ['abc.def', 'tsk_live_1', 'hunter2', 'r1', '"p"'])
      expect(line).not.toContain(leaked);
    expect(line).toContain('[redacted]');
    expect(line).toContain('"name":"ok"');
  });
});
