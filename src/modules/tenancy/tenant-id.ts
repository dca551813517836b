import { z } from 'zod';
import { invalidTenantId } from './tenancy.errors';

const uuid = z.uuid();

export function isTenantId(value: unknown): value is string {
  return uuid.safeParse(value).success;
}

/** A tenant id is checked before it reaches a secret name or a query: 400 otherwise. */
export function assertTenantId(value: unknown): asserts value is string {
  if (!isTenantId(value)) throw invalidTenantId();
}
