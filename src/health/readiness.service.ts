import { DescribeSecretCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { type HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { appConfig, type AppConfig } from '../config';
import { AwsClients } from '../shared/aws';
import { type ConsumerState, KafkaService } from '../shared/kafka';
import { RabbitMqService } from '../shared/rabbitmq';
import { RedisService } from '../shared/redis';
import { DependencyHealth } from './dependency.health';

/** Readiness is probed at most this often, whatever the number of callers. */
export const READINESS_REFRESH_MS = 1_000;

// A name no secret has: Secrets Manager answering "not found" proves it reachable and our
// credentials accepted, at the cost of one cheap call (ListSecrets has a far smaller quota).
const PROBE_SECRET_ID = 'tessera/health-probe/none';

export interface Readiness {
  ok: boolean;
  result: HealthCheckResult;
  /** When this result was taken (epoch ms). */
  checkedAt: number;
}

/**
 * The dependencies' readiness, from a result refreshed at most every READINESS_REFRESH_MS:
 * concurrent callers share one probe round, so calling /health/ready never fans out per call.
 */
@Injectable()
export class ReadinessService {
  private last?: Readiness & { at: number };
  private running?: Promise<Readiness>;

  constructor(
    private readonly health: HealthCheckService,
    private readonly probe: DependencyHealth,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly redis: RedisService,
    private readonly kafka: KafkaService,
    private readonly rabbit: RabbitMqService,
    private readonly aws: AwsClients,
    @Inject(appConfig.KEY) private readonly app: AppConfig,
  ) {}

  current(): Promise<Readiness> {
    if (this.last && performance.now() - this.last.at < READINESS_REFRESH_MS)
      return Promise.resolve(this.last);
    this.running ??= this.check().finally(() => (this.running = undefined));
    return this.running;
  }

  private async check(): Promise<Readiness> {
    let ok = true;
    let result: HealthCheckResult;
    try {
      result = await this.health.check([
        () => this.probe.probe('database', () => this.dataSource.query('select 1')),
        () => this.probe.probe('redis', () => this.redis.ping()),
        () => this.probe.probe('kafka', () => this.kafka.describeCluster()),
        () =>
          this.probe.probe('rabbitmq', () =>
            this.rabbit.connected ? Promise.resolve() : Promise.reject(new Error('not connected')),
          ),
        () => this.probe.probe('secrets_manager', () => this.secretsManagerAnswers()),
      ]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      ok = false;
      result = error.getResponse() as HealthCheckResult;
    }
    this.addBrokerTopology(result);
    this.addConsumerGroups(result);
    this.addRole(result);
    const readiness = { ok, result, checkedAt: Date.now() };
    this.last = { ...readiness, at: performance.now() };
    return readiness;
  }

  /**
   * Queues this instance cannot consume and topology it could not set (a limit policy): shown
   * on the rabbitmq component (counts for everyone, names for platform admins) without making
   * the instance unready, since one tenant's broken queue must not take every tenant's traffic
   * off this instance.
   */
  private addBrokerTopology(result: HealthCheckResult): void {
    const unconsumed = this.rabbit.unconsumedQueues();
    const problems = this.rabbit.topologyProblems();
    const component = result.details?.rabbitmq;
    if (!component || (!unconsumed.length && !problems.length)) return;
    const lines = [
      ...unconsumed.map((q) => `queue ${q.queue} not consumed: ${q.reason}`),
      ...problems.map((p) => `${p.name}: ${p.reason}`),
    ];
    Object.assign(component, {
      queues_not_consumed: unconsumed.length,
      topology_problems: problems.length,
      message: [component.message, ...lines].filter(Boolean).join('; ').slice(0, 2000),
    });
  }

  /**
   * The Kafka consumer groups this process runs, each `joined` or `joining` (`stopped` while
   * shutting down), without making the instance unready: they join in the background after a
   * start, and what waits meanwhile waits in Kafka (an update is accepted once Kafka has it).
   * Omitted when the process runs no consumer (TESSERA_ROLE=api).
   */
  private addConsumerGroups(result: HealthCheckResult): void {
    const groups = this.kafka.consumerGroups();
    if (groups.length === 0) return;
    const states = Object.fromEntries(groups.map((g) => [g.groupId, groupState(g.status)]));
    const joining = Object.values(states).filter((state) => state === 'joining').length;
    const component = {
      status: 'up' as const,
      joined: Object.values(states).filter((state) => state === 'joined').length,
      joining,
      groups: states,
    };
    result.details = { ...result.details, kafka_consumers: component };
    if (result.info) result.info.kafka_consumers = component;
  }

  /**
   * The process's role (TESSERA_ROLE): readiness covers the dependencies this process uses, never
   * consumers it does not run (an `api` process is ready while a `worker` consumes elsewhere).
   */
  private addRole(result: HealthCheckResult): void {
    const component = { status: 'up' as const, role: this.app.role };
    result.details = { ...result.details, process: component };
    if (result.info) result.info.process = component;
  }

  private async secretsManagerAnswers(): Promise<void> {
    try {
      await this.aws.secretsManager.send(new DescribeSecretCommand({ SecretId: PROBE_SECRET_ID }));
    } catch (error) {
      if (!(error instanceof ResourceNotFoundException)) throw error;
    }
  }
}

function groupState(status: ConsumerState['status']): 'joined' | 'joining' | 'stopped' {
  if (status === 'running') return 'joined';
  return status === 'stopped' ? 'stopped' : 'joining';
}

/** The result without the components' error text (what anonymous callers see). */
export function withoutMessages(result: HealthCheckResult): HealthCheckResult {
  const strip = (components?: HealthCheckResult['info']) =>
    components &&
    Object.fromEntries(
      Object.entries(components).map(([name, component]) => {
        const { message: _message, ...rest } = component ?? { status: 'down' };
        return [name, rest];
      }),
    );
  return {
    status: result.status,
    info: strip(result.info),
    error: strip(result.error),
    details: strip(result.details) ?? {},
  };
}
