import { Logger } from '@nestjs/common';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { counter, gauge } from '../metrics';
import type { RawMessage } from './kafka-consumer';
import { createTopicsReady } from './kafka-topics';

const parkedRecords = counter({
  name: 'tessera_kafka_parked_records_total',
  help: 'Records a consumer group parked because their tenant kept failing, by group',
  labelNames: ['group'] as const,
});
const parkedTenants = gauge({
  name: 'tessera_kafka_parked_tenants',
  help: 'Tenants parked now by a consumer group on this instance, by group',
  labelNames: ['group'] as const,
});

/** Header naming where a parked record came from (`topic/partition/offset`). */
export const PARKED_FROM_HEADER = 'x-parked-from';
/** Header with the error that parked it. */
export const PARKED_REASON_HEADER = 'x-parked-reason';

interface ParkedTenant {
  /** Park-topic partition → the last offset parked for this tenant (or after it). */
  last: Map<number, number>;
  /** `last` as it was at the previous check: passing it proves the resumer handles this tenant. */
  seen: Map<number, number>;
  /** The resumer got past earlier records of this tenant: wait for it to drain, then go direct. */
  draining: boolean;
  since: number;
}

const CHECK_INTERVAL_MS = 500;

/**
 * The parked tenants of one consumer group, and their park topic (`<topic>.parked`, consumed by
 * the group `<groupId>.parked`). A tenant whose records still fail after the runner's attempts
 * is parked: those records and every later one of the same tenant go to the park topic, each
 * into the partition of the same number as its source partition (so a key's records keep their
 * order there), and the batch moves on for the other tenants. The tenant goes back to direct
 * handling once the resume group has committed past every record parked for it, so a key
 * never has a newer record handled before an older parked one (on this instance).
 */
export class KafkaParking {
  private readonly logger: Logger;
  private readonly tenants = new Map<string, ParkedTenant>();
  private producer: Producer | null = null;
  private admin: Admin | null = null;
  private partitions = 1;
  private lastCheck = 0;
  private checking: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Records parked since start (direct failures and later records of parked tenants). */
  parkedTotal = 0;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    readonly resumeGroupId: string,
    private readonly groupId: string,
    private readonly topicOptions: { replicationFactor?: number } = {},
  ) {
    this.logger = new Logger(`KafkaParking:${groupId}`);
  }

  /**
   * Connects, and creates the park topic with as many partitions as the source topic. Safe to
   * call again after a failure (the consumer's start retries it).
   */
  async start(sourceTopic: string): Promise<void> {
    this.producer ??= this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    this.admin ??= this.kafka.admin();
    await Promise.all([this.producer.connect(), this.admin.connect()]);
    const partitionsOf = async (topic: string) => {
      const metadata = await this.admin!.fetchTopicMetadata({ topics: [topic] });
      return metadata.topics[0]?.partitions.length ?? 0;
    };
    const wanted = Math.max(1, await partitionsOf(sourceTopic).catch(() => 1));
    await createTopicsReady(this.admin, [
      {
        topic: this.topic,
        numPartitions: wanted,
        replicationFactor: this.topicOptions.replicationFactor,
      },
    ]);
    this.partitions = Math.max(1, await partitionsOf(this.topic));
    // Also when no new record arrives: the state (and the resumed tenants) stays current.
    this.timer ??= setInterval(() => void this.refresh(), CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([this.producer?.disconnect(), this.admin?.disconnect()]);
  }

  get size(): number {
    return this.tenants.size;
  }

  isParked(tenantId: string): boolean {
    return this.tenants.has(tenantId);
  }

  isDraining(tenantId: string): boolean {
    return this.tenants.get(tenantId)?.draining ?? false;
  }

  /**
   * Produces `records` (all from one source partition, in offset order) to the park topic and
   * marks their tenants parked. Resolves once Kafka acknowledged them (acks=all).
   */
  async park(
    records: Array<{ raw: RawMessage; tenantId: string; error: Error }>,
    sourcePartition: number,
  ): Promise<void> {
    if (records.length === 0) return;
    const partition = sourcePartition % this.partitions;
    const [meta] = await this.producer!.send({
      topic: this.topic,
      acks: -1,
      messages: records.map(({ raw, error }) => ({
        key: raw.key,
        value: raw.value,
        partition,
        headers: {
          ...raw.headers,
          [PARKED_FROM_HEADER]: `${raw.topic}/${raw.partition}/${raw.offset}`,
          [PARKED_REASON_HEADER]: error.message.slice(0, 500),
        },
      })),
    });
    // One partition, one request: the records took consecutive offsets from baseOffset.
    const last = Number(meta.baseOffset) + records.length - 1;
    this.parkedTotal += records.length;
    parkedRecords.inc({ group: this.groupId }, records.length);
    for (const { tenantId, error } of records) {
      let entry = this.tenants.get(tenantId);
      if (!entry) {
        entry = { last: new Map(), seen: new Map(), draining: false, since: Date.now() };
        this.tenants.set(tenantId, entry);
        this.logger.warn(
          { tenantId, err: error },
          'Tenant parked: its records go to the park topic',
        );
      }
      entry.draining = false;
      entry.last.set(partition, Math.max(entry.last.get(partition) ?? -1, last));
    }
    parkedTenants.set({ group: this.groupId }, this.tenants.size);
  }

  /**
   * Reads the resume group's committed offsets (at most every 500 ms, shared by concurrent
   * callers; `force` skips the interval): a tenant whose parked records are all handled goes
   * back to direct handling; one whose earlier records were handled since the last check is
   * draining (its next records wait for the rest, see `waitDrained`).
   */
  async refresh(force = false): Promise<void> {
    if (this.tenants.size === 0) return;
    if (!force && Date.now() - this.lastCheck < CHECK_INTERVAL_MS) return;
    this.checking ??= this.check().finally(() => {
      this.lastCheck = Date.now();
      this.checking = null;
    });
    await this.checking;
  }

  /**
   * Waits (polling) until the tenant's parked records are handled, up to `timeoutMs`; false
   * when they are not (the caller parks again, and the tenant stops draining until the next
   * sign of progress).
   */
  async waitDrained(tenantId: string, timeoutMs: number, live: () => boolean): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.tenants.has(tenantId)) {
      if (Date.now() >= deadline || !live()) {
        const entry = this.tenants.get(tenantId);
        if (entry) entry.draining = false;
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      await this.refresh(true);
    }
    return true;
  }

  private async check(): Promise<void> {
    let committed: Map<number, number>;
    try {
      const [entry] = await this.admin!.fetchOffsets({
        groupId: this.resumeGroupId,
        topics: [this.topic],
      });
      committed = new Map(entry.partitions.map((p) => [p.partition, Number(p.offset)]));
    } catch (error) {
      this.logger.warn({ err: error }, 'Could not read the resume group offsets');
      return;
    }
    const past = (offsets: Map<number, number>) =>
      [...offsets].every(([partition, offset]) => (committed.get(partition) ?? -1) > offset);
    for (const [tenantId, entry] of this.tenants) {
      if (past(entry.last)) {
        this.tenants.delete(tenantId);
        this.logger.log(
          { tenantId, parkedForMs: Date.now() - entry.since },
          'Tenant resumed: its parked records are handled, new ones go direct again',
        );
      } else if (entry.seen.size > 0 && past(entry.seen)) {
        entry.draining = true;
      }
      entry.seen = new Map(entry.last);
    }
    parkedTenants.set({ group: this.groupId }, this.tenants.size);
  }
}
