import { Logger } from '@nestjs/common';
import type { AmqpConnectionManager } from 'amqp-connection-manager';
import type { ConfirmChannel } from 'amqplib';

/**
 * One raw amqplib channel as it was opened: deliveries remember the generation they arrived
 * on, so an ack goes to that channel or nowhere. `open` turns false the moment it closes (the
 * broker has then requeued everything unacked on it).
 */
export interface ChannelGeneration {
  readonly id: number;
  readonly channel: ConfirmChannel;
  open: boolean;
}

/** What a consumer sharing a channel must do when that channel comes and goes. */
export interface ChannelMember {
  readonly queue: string;
  /** Declares and consumes on `generation` (called inside the channel's lock). */
  subscribe(generation: ChannelGeneration): Promise<void>;
  /** The generation closed: drop what it buffered from it (requeued by the broker). */
  channelLost(generation: ChannelGeneration): void;
}

const REOPEN_DELAY_MS = 500;

/**
 * A consumer channel shared by many queues' consumers (per-consumer prefetch: `basic.qos`
 * with global=false applies to the consumers started after it). The channel is opened on the
 * raw connection, not through a ChannelWrapper, so every delivery knows the exact channel it
 * came on. It is re-opened after a reconnect, or after a channel-level error while the
 * connection stays up, and every member subscribes again.
 */
export class ConsumerChannel {
  private readonly logger: Logger;
  private current?: ChannelGeneration;
  private readonly members = new Set<ChannelMember>();
  private lock: Promise<unknown> = Promise.resolve();
  private generations = 0;
  private opening = false;
  private closed = false;
  private reopenTimer?: NodeJS.Timeout;
  /** Channel closes not caused by a lost connection (e.g. a 406 on a bad ack). */
  channelErrors = 0;

  constructor(
    private readonly connection: AmqpConnectionManager,
    readonly name: string,
  ) {
    this.logger = new Logger(`ConsumerChannel:${name}`);
    connection.on('connect', this.onConnect);
    if (connection.isConnected()) void this.open();
  }

  get size(): number {
    return this.members.size;
  }

  get isOpen(): boolean {
    return this.current?.open ?? false;
  }

  get generation(): ChannelGeneration | undefined {
    return this.current?.open ? this.current : undefined;
  }

  /** Adds a member and subscribes it now when the channel is open (later, on open, otherwise). */
  async attach(member: ChannelMember): Promise<void> {
    this.members.add(member);
    const generation = this.generation;
    if (generation) await this.exclusive(() => this.subscribeSafely(member, generation));
  }

  detach(member: ChannelMember): void {
    this.members.delete(member);
  }

  /** Serialises qos + consume pairs (and cancels) on this channel. */
  exclusive<R>(work: () => Promise<R>): Promise<R> {
    const run = this.lock.then(work, work);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Subscribes `member` again on the current generation (after a server-side cancel). */
  async resubscribe(member: ChannelMember): Promise<void> {
    const generation = this.generation;
    if (!generation || !this.members.has(member)) return;
    await this.exclusive(() => this.subscribeSafely(member, generation));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    this.connection.removeListener('connect', this.onConnect);
    const generation = this.current;
    this.current = undefined;
    if (generation?.open) {
      generation.open = false;
      await generation.channel.close().catch(() => undefined);
    }
  }

  private readonly onConnect = (): void => {
    void this.open();
  };

  private async open(): Promise<void> {
    if (this.closed || this.opening || this.current?.open) return;
    const connection = this.connection.connection;
    if (!connection) return;
    this.opening = true;
    try {
      const channel = await connection.createConfirmChannel();
      const generation: ChannelGeneration = { id: ++this.generations, channel, open: true };
      channel.on('error', (err: Error) => {
        this.channelErrors++;
        this.logger.warn({ err }, 'Consumer channel error');
      });
      channel.on('close', () => this.onClose(generation));
      this.current = generation;
      await this.exclusive(async () => {
        for (const member of this.members) {
          if (!generation.open) return;
          await this.subscribeSafely(member, generation);
        }
      });
    } catch (err) {
      this.logger.warn({ err }, 'Could not open the consumer channel');
      this.scheduleReopen();
    } finally {
      this.opening = false;
    }
  }

  private onClose(generation: ChannelGeneration): void {
    generation.open = false;
    if (this.current === generation) this.current = undefined;
    for (const member of this.members) member.channelLost(generation);
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.closed) return;
    clearTimeout(this.reopenTimer);
    // A lost connection re-opens on 'connect'; a channel error with the connection up, here.
    this.reopenTimer = setTimeout(() => {
      if (this.connection.isConnected()) void this.open();
    }, REOPEN_DELAY_MS);
    this.reopenTimer.unref();
  }

  private async subscribeSafely(member: ChannelMember, generation: ChannelGeneration) {
    if (!generation.open || !this.members.has(member)) return;
    try {
      await member.subscribe(generation);
    } catch (err) {
      // A failed consume closes the channel: every member subscribes again when it re-opens.
      // (The member logs and reports its own failure.)
      this.logger.debug({ err, queue: member.queue }, 'Could not subscribe a consumer');
    }
  }
}
