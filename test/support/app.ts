import type { ModuleMetadata } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { appConfig } from '../../src/config';
import { configureApp } from '../../src/http/configure-app';
import { KafkaService } from '../../src/shared/kafka';
import { createFastifyAdapter } from '../../src/http/fastify';

export interface TestApp {
  app: NestFastifyApplication;
  /** http://127.0.0.1:<port> of the listening app. */
  url: string;
  close(): Promise<void>;
}

/**
 * The production AppModule and pipeline, listening on a free port. `extra` adds test-only
 * providers/controllers (e.g. a probe consumer) beside the real ones.
 */
export async function createTestApp(
  options: {
    extra?: ModuleMetadata;
    override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
  } = {},
): Promise<TestApp> {
  const imports = [AppModule, ...(options.extra?.imports ?? [])];
  let builder = Test.createTestingModule({
    imports,
    providers: options.extra?.providers ?? [],
    controllers: options.extra?.controllers ?? [],
  });
  if (options.override) builder = options.override(builder);
  const moduleRef = await builder.compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(
    createFastifyAdapter(appConfig()),
    {
      bufferLogs: true,
    },
  );
  configureApp(app);
  try {
    await app.listen({ port: 0, host: '127.0.0.1' });
  } catch (error) {
    // A boot that failed half-way closes what it started (consumers, pools): nothing may keep
    // running after the suite's environment is torn down, or it fails a later suite.
    await app.close().catch(() => undefined);
    throw error;
  }
  // The app listens before its Kafka consumers have joined their groups (they join in the
  // background); a test starts from a joined app, as a rebalance would only slow its first records.
  await app.get(KafkaService).consumersJoined(60_000);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}
