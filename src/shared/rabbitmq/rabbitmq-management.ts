import { Inject, Injectable } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { rabbitmqConfig, type RabbitmqConfig } from '../../config';

/** A RabbitMQ policy: what applies to the queues whose names match `pattern`. */
export interface QueuePolicy {
  pattern: string;
  definition: Record<string, string | number>;
  priority: number;
}

const TIMEOUT_MS = 5_000;

/**
 * The broker's management HTTP API, for what AMQP cannot do: policies (limits an operator may
 * change on live queues, where queue arguments would need the queue deleted). Credentials and
 * virtual host are RABBITMQ_URL's.
 */
@Injectable()
export class RabbitMqManagement {
  private readonly base: string;
  private readonly vhost: string;
  private readonly authorization: string;

  constructor(@Inject(rabbitmqConfig.KEY) config: RabbitmqConfig) {
    const amqp = new URL(config.url);
    this.base = config.managementUrl.replace(/\/+$/, '');
    this.vhost = encodeURIComponent(decodeURIComponent(amqp.pathname.slice(1)) || '/');
    const user = decodeURIComponent(amqp.username || 'guest');
    const password = decodeURIComponent(amqp.password || 'guest');
    this.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }

  /** Sets the policy unless it is already so (a changed policy re-applies to every queue). */
  async ensurePolicy(name: string, policy: QueuePolicy): Promise<'unchanged' | 'set'> {
    const path = `/api/policies/${this.vhost}/${encodeURIComponent(name)}`;
    const current = await this.request(path, 'GET', undefined, [404]);
    if (
      current &&
      isDeepStrictEqual(pick(current as Record<string, unknown>), pick({ ...policy }))
    ) {
      return 'unchanged';
    }
    await this.request(path, 'PUT', { ...policy, 'apply-to': 'queues' });
    return 'set';
  }

  private async request(
    path: string,
    method: 'GET' | 'PUT',
    body?: unknown,
    absentOk: number[] = [],
  ): Promise<unknown> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        authorization: this.authorization,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (absentOk.includes(response.status)) return null;
    if (!response.ok) {
      throw new Error(
        `RabbitMQ management ${method} ${path}: ${response.status} ${(await response.text()).slice(0, 200)}`,
      );
    }
    const text = await response.text();
    return text ? (JSON.parse(text) as unknown) : null;
  }
}

function pick(policy: Record<string, unknown>) {
  return {
    pattern: policy.pattern,
    definition: policy.definition,
    priority: policy.priority,
  };
}
