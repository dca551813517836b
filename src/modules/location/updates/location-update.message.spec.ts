import { signBody } from '../../../shared/outbound';
import {
  batchDelivery,
  deliveryBody,
  parseDeadLetter,
  parseLocationUpdate,
  type LocationUpdateMessage,
} from './location-update.message';

const record: LocationUpdateMessage = {
  v: 1,
  event_id: '0b7e6f1c-5d2a-4c39-9f57-3f3c1c2d4e5f',
  tenant_id: '6a1f0e2d-3c4b-4a59-8e7d-1f2a3b4c5d6e',
  session_id: '9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d',
  user_id: 'user-1',
  latitude: 52.52,
  longitude: 13.405,
  accuracy: null,
  recorded_at: '2026-01-01T00:00:00.000Z',
  received_at: '2026-01-01T00:00:01.000Z',
};
const buffer = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('the location update message', () => {
  it('reads a version 1 record back as it was written', () => {
    expect(parseLocationUpdate(buffer(record))).toEqual(record);
  });

  it.each([
    ['another version', { ...record, v: 2 }],
    ['a latitude beyond 90', { ...record, latitude: 90.0001 }],
    ['a longitude beyond -180', { ...record, longitude: -180.5 }],
    ['a tenant id that is not a uuid', { ...record, tenant_id: 'tenant-1' }],
    ['a negative accuracy', { ...record, accuracy: -1 }],
    ['a time without an offset', { ...record, recorded_at: '2026-01-01T00:00:00' }],
  ])('refuses %s', (_name, value) => {
    expect(() => parseLocationUpdate(buffer(value))).toThrow();
  });

  it('refuses bytes that are not JSON', () => {
    expect(() => parseLocationUpdate(Buffer.from('{"v":1,'))).toThrow();
  });

  it('delivers the update without the contract version and the time it was received', () => {
    expect(JSON.parse(deliveryBody(record))).toEqual({
      event_id: record.event_id,
      tenant_id: record.tenant_id,
      session_id: record.session_id,
      user_id: record.user_id,
      latitude: record.latitude,
      longitude: record.longitude,
      accuracy: null,
      recorded_at: record.recorded_at,
    });
  });
});

describe('the dead letter message', () => {
  const letter = {
    v: 1,
    reason: 'delivery_failed',
    error: 'HTTP 503',
    status_code: 503,
    retryable: true,
    attempt: 1,
    failed_at: '2026-01-01T00:00:02.000Z',
    record,
    raw: null,
    source: { topic: 'location.updates', partition: 0, offset: '42' },
  };

  it('carries the failed update, its error and where it came from', () => {
    expect(parseDeadLetter(buffer(letter))).toEqual(letter);
  });

  it('carries a poison record as raw bytes without an update', () => {
    const poison = { ...letter, reason: 'poison', record: null, raw: 'eyJ2IjoxLA==' };
    expect(parseDeadLetter(buffer(poison))).toEqual(poison);
  });

  it('refuses a letter with an unknown reason or an attempt below 1', () => {
    expect(() => parseDeadLetter(buffer({ ...letter, reason: 'other' }))).toThrow();
    expect(() => parseDeadLetter(buffer({ ...letter, attempt: 0 }))).toThrow();
  });

  describe('a batched delivery', () => {
    const second: LocationUpdateMessage = {
      ...record,
      event_id: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
      user_id: 'a "quoted" user\u2028',
      accuracy: 3.5,
    };

    it('carries each update as its single delivery would, with its own key and signature', () => {
      const { body } = batchDelivery([record, second], 'whsec_test', 1_700_000_000);
      const parsed = JSON.parse(body) as {
        updates: Array<{ idempotency_key: string; signature: string; update: unknown }>;
      };
      expect(parsed.updates.map((item) => item.idempotency_key)).toEqual([
        record.event_id,
        second.event_id,
      ]);
      [record, second].forEach((each, i) => {
        const item = parsed.updates[i];
        expect(item.update).toEqual(JSON.parse(deliveryBody(each)));
        // A receiver verifies an item from the parsed update, re-serialised as JSON.stringify does.
        const v1 = signBody('whsec_test', 1_700_000_000, JSON.stringify(item.update));
        expect(item.signature).toBe(`t=1700000000,v1=${v1}`);
      });
    });

    it('is unsigned without a secret, and its request key follows its items', () => {
      const one = batchDelivery([record, second], null, 1);
      expect(JSON.parse(one.body).updates[0]).not.toHaveProperty('signature');
      expect(batchDelivery([record, second], null, 2).idempotencyKey).toBe(one.idempotencyKey);
      expect(batchDelivery([second, record], null, 1).idempotencyKey).not.toBe(one.idempotencyKey);
      expect(batchDelivery([record], null, 1).idempotencyKey).not.toBe(one.idempotencyKey);
    });
  });
});
