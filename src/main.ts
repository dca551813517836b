import './telemetry';
import { Logger as NestLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { inspect } from 'node:util';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import {
  appConfig,
  configNamespaces,
  flagsAgainstRole,
  ConfigValidationError,
  loadLocalEnv,
  validateAll,
} from './config';
import { configureApp } from './http/configure-app';
import { createFastifyAdapter } from './http/fastify';
import { gracefulShutdown } from './http/shutdown';
import { shutdownTelemetry } from './shared/telemetry';
import { StartupError } from './shared/errors';

function validateConfigOrExit(): void {
  try {
    validateAll(configNamespaces);
  } catch (error) {
    if (!(error instanceof ConfigValidationError)) throw error;
    process.stderr.write(
      `${error.message}\nSee .env.example for every variable and its default.\n`,
    );
    process.exit(1);
  }
}

async function bootstrap(): Promise<void> {
  loadLocalEnv();
  validateConfigOrExit();
  const config = appConfig();

  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule,
    createFastifyAdapter(config),
    // Errors reach startupFailed, which decides what is printed (a StartupError: one line).
    { bufferLogs: true, autoFlushLogs: false, abortOnError: false },
  );
  configureApp(app);
  const logger = app.get(Logger);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log({ signal }, 'Shutting down: readiness now 503, draining');
    setTimeout(() => {
      logger.error('Shutdown did not finish in time; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    try {
      await gracefulShutdown(app, config.shutdownDrainDelayMs);
      // Spans still buffered are exported before the process exits.
      await shutdownTelemetry();
      logger.log('Shutdown complete');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'Shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', (signal) => void shutdown(signal));
  process.once('SIGINT', (signal) => void shutdown(signal));

  const against = flagsAgainstRole();
  if (against.length)
    logger.warn(
      { role: config.role, flags: against },
      `TESSERA_ROLE=${config.role}, but ${against.join(', ')} set otherwise (the flag wins)`,
    );

  await app.listen({ port: config.port, host: config.host });
  logger.log({ url: await app.getUrl(), role: config.role }, 'Tessera is listening');
}

/** A failed start exits 1: a StartupError as one line saying what to fix, anything else in full. */
function startupFailed(error: unknown): void {
  if (error instanceof StartupError) {
    process.stderr.write(`Start-up failed: ${error.message}\n`);
  } else {
    NestLogger.flush();
    process.stderr.write(`Start-up failed: ${inspect(error)}\n`);
  }
  process.exit(1);
}

bootstrap().catch(startupFailed);
