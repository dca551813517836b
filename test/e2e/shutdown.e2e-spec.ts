import { Controller, Get } from '@nestjs/common';
import amqplib from 'amqplib';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { gracefulShutdown } from '../../src/http/shutdown';
import { Public } from '../../src/shared/auth';
import { RabbitMqService } from '../../src/shared/rabbitmq';
import { TenantContext } from '../../src/shared/tenant-context';
import { createTestApp } from '../support/app';
import { eventually } from '../support/services';

@Controller('probe')
class SlowController {
  @Public()
  @Get('slow')
  async slow(): Promise<{ done: true }> {
    await sleep(1_500);
    return { done: true };
  }
}

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('graceful shutdown', () => {
  it('answers readiness 503 first, finishes in-flight requests and messages, then closes', async () => {
    const t = await createTestApp({ extra: { controllers: [SlowController] } });
    const rabbit = t.app.get(RabbitMqService);
    const context = t.app.get(TenantContext);
    const queue = `test.shutdown.${randomUUID()}`;
    const declare = (channel: amqplib.Channel) =>
      channel.assertQueue(queue, { durable: true, arguments: { 'x-expires': 60_000 } });
    let handlerStarted = false;
    let handlerFinished = false;
    await rabbit.addTopology(declare);
    await rabbit.startConsumer({
      queue,
      concurrency: 1,
      setup: declare,
      parse: (content) => content.toString(),
      handle: async () => {
        handlerStarted = true;
        await sleep(1_500);
        handlerFinished = true;
      },
    });
    await context.run(
      {
        transport: 'internal',
        principal: { tenantId: randomUUID(), isPlatformAdmin: false, via: 'message' },
      },
      () => rabbit.publish('', queue, Buffer.from('"work"')),
    );
    await eventually(() => Promise.resolve(handlerStarted), Boolean, 10_000);

    const inFlight = request(t.url).get('/api/v1/probe/slow');
    const inFlightResult = inFlight.then((res) => res);
    await sleep(100);
    const shutdown = gracefulShutdown(t.app, 600);
    await sleep(50);

    const ready = await request(t.url).get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.error).toEqual({ instance: { status: 'down', message: 'shutting down' } });

    const slow = await inFlightResult;
    expect(slow.status).toBe(200);
    expect(slow.body).toEqual({ done: true });
    await shutdown;
    expect(handlerFinished).toBe(true);

    // The message was acknowledged before the channel closed: nothing is left to redeliver.
    const connection = await amqplib.connect(process.env.RABBITMQ_URL!);
    try {
      const channel = await connection.createChannel();
      const { messageCount } = await channel.checkQueue(queue);
      expect(messageCount).toBe(0);
      await channel.deleteQueue(queue);
    } finally {
      await connection.close();
    }
    await expect(request(t.url).get('/health/live')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('the real process exits 0 on SIGTERM, after answering readiness 503 while draining', async () => {
    const port = await freePort();
    const root = resolve(__dirname, '../..');
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(port),
        SHUTDOWN_DRAIN_DELAY_MS: '1500',
        LOG_LEVEL: 'info',
        NODE_ENV: 'test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const url = `http://127.0.0.1:${port}`;
    try {
      const up = await eventually(
        () =>
          request(url)
            .get('/health/ready')
            .then(
              (r) => r.status,
              () => 0,
            ),
        (status) => status === 200,
        60_000,
        300,
      );
      expect(up).toBe(200);

      const started = Date.now();
      child.kill('SIGTERM');
      const draining = await eventually(
        () =>
          request(url)
            .get('/health/ready')
            .then(
              (r) => r.status,
              () => 0,
            ),
        (status) => status === 503,
        5_000,
        50,
      );
      expect(draining).toBe(503);
      expect(await exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(output).toContain('Shutdown complete');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
