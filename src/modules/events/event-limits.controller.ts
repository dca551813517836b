import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Put } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, PlatformAdminOnly } from '../../shared/auth';
import { TenantContext } from '../../shared/tenant-context';
import { EventRateLimitDto, RateLimitViewDto } from './dto/events.dto';
import { EventRateLimiter, type RateLimit } from './event-rate-limiter';

const uuid = new ParseUUIDPipe({ version: undefined });

/** A platform admin's per-tenant override of the event ingestion limit. */
@ApiTags('events')
@Authenticated()
@PlatformAdminOnly()
@Controller('admin/tenants/:id/event-rate-limit')
export class EventLimitsController {
  constructor(
    private readonly limiter: EventRateLimiter,
    private readonly context: TenantContext,
  ) {}

  @Get()
  @ApiOperation({ summary: "A tenant's event rate limit (its override, else the default)" })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ description: '`{points, window_seconds, origin}`', type: RateLimitViewDto })
  @ApiNotFoundResponse({ description: 'Unknown tenant' })
  get(@Param('id', uuid) id: string): Promise<RateLimit> {
    return this.limiter.describe(id);
  }

  @Put()
  @ApiOperation({
    summary: "Set a tenant's event rate limit (every instance within the override cache time)",
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({
    description: '`{points, window_seconds, origin: "override"}`',
    type: RateLimitViewDto,
  })
  @ApiBadRequestResponse({ description: 'points 1–10,000,000; window_seconds 1–86,400' })
  @ApiNotFoundResponse({ description: 'Unknown tenant' })
  set(@Param('id', uuid) id: string, @Body() body: EventRateLimitDto): Promise<RateLimit> {
    return this.limiter.setOverride(id, body, this.context.principal.userId);
  }

  @Delete()
  @ApiOperation({ summary: 'Back to the default limit for this tenant' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ description: 'The default limit now in force', type: RateLimitViewDto })
  @ApiNotFoundResponse({ description: 'Unknown tenant' })
  clear(@Param('id', uuid) id: string): Promise<RateLimit> {
    return this.limiter.setOverride(id, null, this.context.principal.userId);
  }
}
