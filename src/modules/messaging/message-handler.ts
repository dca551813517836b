import { Inject, Injectable } from '@nestjs/common';
import { messagingConfig, type MessagingConfig } from '../../config';
import { OutboundHttp } from '../../shared/outbound';

/** What a worker hands the handler: the stored message and its queue's configuration. */
export interface HandledMessage {
  id: string;
  tenantId: string;
  queueName: string;
  payload: unknown;
  attempt: number;
  webhookUrl: string | null;
  /** The queue's webhook signing secret (else the operator's MESSAGING_WEBHOOK_SIGNING_SECRET). */
  signingSecret: string | null;
}

/**
 * The effect of processing one message (a port: tests swap it for a recording handler).
 * Resolves when done; throws to fail the attempt.
 */
export abstract class MessageHandler {
  abstract handle(message: HandledMessage): Promise<void>;

  /** True when storing the outcome is the whole effect: the worker then does it in one transaction. */
  isRecordOnly(_queue: { webhookUrl: string | null }): boolean {
    return false;
  }
}

/**
 * The default effect: POST the payload to the queue's webhook when one is set (SSRF-checked
 * OutboundHttp: https, public addresses; `Idempotency-Key: <message id>`), else nothing more
 * than recording it processed.
 */
@Injectable()
export class WebhookMessageHandler extends MessageHandler {
  constructor(
    private readonly outbound: OutboundHttp,
    @Inject(messagingConfig.KEY) private readonly config: MessagingConfig,
  ) {
    super();
  }

  override isRecordOnly(queue: { webhookUrl: string | null }): boolean {
    return !queue.webhookUrl;
  }

  async handle(message: HandledMessage): Promise<void> {
    if (!message.webhookUrl) return;
    const result = await this.outbound.deliver({
      url: message.webhookUrl,
      body: JSON.stringify({
        id: message.id,
        tenant_id: message.tenantId,
        queue_name: message.queueName,
        attempt: message.attempt,
        payload: message.payload,
      }),
      idempotencyKey: message.id,
      signingSecret: message.signingSecret ?? this.config.webhookSigningSecret,
      timeoutMs: this.config.webhookTimeoutMs,
    });
    if (!result.ok) {
      throw new Error(
        `webhook answered ${result.status ?? 'nothing'}${result.error ? `: ${result.error}` : ''}`,
      );
    }
  }
}
