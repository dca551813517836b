import { Controller, Get, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiExtension,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Allow, Authenticated } from '../../../shared/auth';
import type { Page } from '../../../shared/pagination';
import { AuditPageDto, ListAuditQueryDto } from './tenant-audit.dto';
import { type AuditEntryView, TenantAuditTrail } from './tenant-audit.service';

/** The current tenant's audit trail: its owners, or a platform admin with X-Tenant-ID. */
@ApiTags('tenant')
@Authenticated()
@Allow({ platformAdmin: true, roles: ['tenant_owner'] })
@Controller('tenant/audit')
export class TenantAuditController {
  constructor(private readonly trail: TenantAuditTrail) {}

  @Get()
  @ApiOperation({
    summary:
      'Who did what and when in this tenant (logins, members, API keys, delivery targets, queues, manual retries), newest first',
  })
  @ApiOkResponse({ description: '`{data, next_cursor}`', type: AuditPageDto })
  @ApiBadRequestResponse({ description: 'Invalid filter, instant or cursor' })
  @ApiExtension(
    'x-refuses-valid-input',
    'from/to must be real RFC 3339 instants with from not after to; action one of the listed; an opaque cursor',
  )
  @ApiServiceUnavailableResponse({ description: 'Tenant database down' })
  list(@Query() query: ListAuditQueryDto): Promise<Page<AuditEntryView>> {
    return this.trail.list(query);
  }
}
