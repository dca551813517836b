import { ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { Controller, Get, HttpStatus, Res, ServiceUnavailableException } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { HealthCheck, type HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyReply } from 'fastify';
import type { DataSource } from 'typeorm';
import { Public } from '../shared/auth';
import { AwsClients } from '../shared/aws';
import { KafkaService } from '../shared/kafka';
import { LifecycleService } from '../shared/lifecycle';
import { RabbitMqService } from '../shared/rabbitmq';
import { RedisService } from '../shared/redis';
import { DependencyHealth } from './dependency.health';

/** Terminus' result: every component by name, `{status: up|down, ...}`. */
const components = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['status'],
    properties: { status: { type: 'string', enum: ['up', 'down'] } },
  },
};
const HEALTH_RESULT = {
  type: 'object',
  required: ['status'],
  properties: {
    status: { type: 'string', enum: ['ok', 'error', 'shutting_down'] },
    info: components,
    error: components,
    details: components,
  },
};

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly probe: DependencyHealth,
    private readonly lifecycle: LifecycleService,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly redis: RedisService,
    private readonly kafka: KafkaService,
    private readonly rabbit: RabbitMqService,
    private readonly aws: AwsClients,
  ) {}

  @Public()
  @Get('live')
  @ApiOperation({ summary: 'Liveness: 200 while the process can serve (checks no dependency)' })
  @ApiOkResponse({
    description: 'The process is alive',
    schema: { type: 'object', required: ['status'], properties: { status: { enum: ['ok'] } } },
  })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Public()
  @Get(['ready', ''])
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({
    summary: 'Readiness: platform database, Redis, Kafka, RabbitMQ and Secrets Manager',
  })
  @ApiOkResponse({
    description: 'Every component answers, with its latency',
    schema: HEALTH_RESULT,
  })
  @ApiServiceUnavailableResponse({
    description: 'A component is down (named), or the instance is draining',
    schema: HEALTH_RESULT,
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    if (this.lifecycle.draining) {
      void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
      return {
        status: 'error',
        info: {},
        error: { instance: { status: 'down', message: 'shutting down' } },
        details: { instance: { status: 'down', message: 'shutting down' } },
      };
    }
    try {
      return await this.health.check([
        () => this.probe.probe('database', () => this.dataSource.query('select 1')),
        () => this.probe.probe('redis', () => this.redis.ping()),
        () => this.probe.probe('kafka', () => this.kafka.describeCluster()),
        () =>
          this.probe.probe('rabbitmq', () =>
            this.rabbit.connected ? Promise.resolve() : Promise.reject(new Error('not connected')),
          ),
        () =>
          this.probe.probe('secrets_manager', () =>
            this.aws.secretsManager.send(new ListSecretsCommand({ MaxResults: 1 })),
          ),
      ]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
      return error.getResponse() as HealthCheckResult;
    }
  }
}
