import { Controller, Get } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { TenantContext } from '../../src/shared/tenant-context';

export interface ContextReading {
  tenant_before: string;
  tenant_after: string;
  request_id_before?: string;
  request_id_after?: string;
}

/** Reads the context, yields to other work, reads it again: interleaving shows up as a mismatch. */
export async function readAcrossAwait(context: TenantContext): Promise<ContextReading> {
  const tenant_before = context.tenantId;
  const request_id_before = context.requestId;
  await sleep(Math.floor(Math.random() * 5));
  return {
    tenant_before,
    tenant_after: context.tenantId,
    request_id_before,
    request_id_after: context.requestId,
  };
}

/** A test-only route behind the real guard and context middleware. */
@Controller('probe')
export class ContextProbeController {
  constructor(private readonly context: TenantContext) {}

  @Get('context')
  read(): Promise<ContextReading> {
    return readAcrossAwait(this.context);
  }
}
