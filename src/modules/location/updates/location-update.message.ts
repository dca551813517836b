import { createHash } from 'node:crypto';
import { z } from 'zod';
import { signBody } from '../../../shared/outbound';

/** Version 1 of a record on `location.updates` (key: session id; headers: tenant, event, user, request). */
export const locationUpdateMessage = z.object({
  v: z.literal(1),
  event_id: z.uuid(),
  tenant_id: z.uuid(),
  session_id: z.uuid(),
  user_id: z.string().min(1).max(200),
  latitude: z.number().min(-90).max(90),
  longitude: z.number().min(-180).max(180),
  accuracy: z.number().min(0).nullable(),
  recorded_at: z.iso.datetime({ offset: true }),
  received_at: z.iso.datetime({ offset: true }),
});
export type LocationUpdateMessage = z.infer<typeof locationUpdateMessage>;

export function parseLocationUpdate(value: Buffer): LocationUpdateMessage {
  return locationUpdateMessage.parse(JSON.parse(value.toString('utf8')));
}

/** What the third party receives (API.md: deliveries). */
export function deliveryBody(record: LocationUpdateMessage): string {
  return JSON.stringify({
    event_id: record.event_id,
    tenant_id: record.tenant_id,
    session_id: record.session_id,
    user_id: record.user_id,
    latitude: record.latitude,
    longitude: record.longitude,
    accuracy: record.accuracy,
    recorded_at: record.recorded_at,
  });
}

/**
 * One POST for several updates: `{"updates":[{"idempotency_key","signature"?,"update"}, …]}`.
 * Each `update` is the single delivery's body, byte for byte (compact JSON, the same key order),
 * and each item stands alone: its `idempotency_key` is the update's `event_id` (what a single
 * delivery sends as `Idempotency-Key`), and its `signature` (with a secret) is the single
 * delivery's `t=<t>,v1=<HMAC of "<t>.<update>">`, so a receiver can dedupe and verify items one by
 * one, however a retry groups them. The request's own key is derived from its items.
 */
export function batchDelivery(
  records: readonly LocationUpdateMessage[],
  secret: string | null,
  t: number,
): { body: string; idempotencyKey: string } {
  const items = records.map((record) => {
    const update = deliveryBody(record);
    const signature = secret ? `,"signature":"t=${t},v1=${signBody(secret, t, update)}"` : '';
    return `{"idempotency_key":"${record.event_id}"${signature},"update":${update}}`;
  });
  const ids = createHash('sha256');
  for (const record of records) ids.update(record.event_id);
  return {
    body: `{"updates":[${items.join(',')}]}`,
    idempotencyKey: `batch-${ids.digest('base64url')}`,
  };
}

/** Version 1 of a record on `location.updates.dlq`. */
export const deadLetterMessage = z.object({
  v: z.literal(1),
  /** delivery_failed: the streamer could not deliver; poison: the record could not be read. */
  reason: z.enum(['delivery_failed', 'poison']),
  error: z.string(),
  status_code: z.number().int().nullable(),
  retryable: z.boolean(),
  attempt: z.number().int().min(1),
  failed_at: z.iso.datetime({ offset: true }),
  record: locationUpdateMessage.nullable(),
  /** Poison only: the original value (base64) and where it was. */
  raw: z.string().nullable(),
  source: z.object({ topic: z.string(), partition: z.number(), offset: z.string() }),
});
export type DeadLetterMessage = z.infer<typeof deadLetterMessage>;

export function parseDeadLetter(value: Buffer): DeadLetterMessage {
  return deadLetterMessage.parse(JSON.parse(value.toString('utf8')));
}
