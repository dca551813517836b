import { Body, Controller, Get, HttpCode, HttpStatus, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiExtension,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

/** The contract test's mark for input the schemas allow that a rule can still refuse (src/http/openapi.ts). */
const REFUSES_VALID_INPUT = 'x-refuses-valid-input';
import { Authenticated } from '../../shared/auth';
import type { Page } from '../../shared/pagination';
import { TenantContext } from '../../shared/tenant-context';
import {
  CreateEventBatchDto,
  CreateEventDto,
  EventBatchResultDto,
  type EventInput,
  type EventStats,
  EventStatsDto,
  EventStatsQueryDto,
  type EventView,
  EventPageDto,
  EventViewDto,
  ListEventsQueryDto,
} from './dto/events.dto';
import { EventRateLimiter, type RateLimitState } from './event-rate-limiter';
import { checkBodyTenant, checkMetadata, EventsService, type NewEvent } from './events.service';

const rateLimitHeaders = {
  'X-RateLimit-Limit': {
    description: "The tenant's events per window",
    schema: { type: 'integer' },
  },
  'X-RateLimit-Remaining': {
    description: 'Events left in this window',
    schema: { type: 'integer' },
  },
};

/** Event ingestion (API key or bearer) and queries of the caller's tenant feed. */
@ApiTags('events')
@Authenticated()
@Controller('events')
export class EventsController {
  constructor(
    private readonly context: TenantContext,
    private readonly events: EventsService,
    private readonly limiter: EventRateLimiter,
  ) {}

  @Post()
  @HttpCode(HttpStatus.CREATED)
  @ApiOperation({
    summary: "Store one event in the credential's tenant (idempotent by event_id) and push it live",
  })
  @ApiCreatedResponse({
    description: 'The stored event with its seq',
    type: EventViewDto,
    headers: rateLimitHeaders,
  })
  @ApiOkResponse({
    description: 'The event stored earlier with this event_id',
    type: EventViewDto,
    headers: rateLimitHeaders,
  })
  @ApiBadRequestResponse({ description: 'Invalid event_type, timestamp or metadata (too deep)' })
  @ApiForbiddenResponse({ description: 'tenant_id names another tenant' })
  @ApiExtension(
    REFUSES_VALID_INPUT,
    'timestamp must be a real RFC 3339 instant within the event window around now; metadata at most 32 levels deep, without NUL',
  )
  @ApiPayloadTooLargeResponse({ description: 'metadata over 64 KiB' })
  @ApiTooManyRequestsResponse({
    description: "Past the tenant's rate limit (Retry-After)",
    headers: rateLimitHeaders,
  })
  @ApiServiceUnavailableResponse({ description: 'Rate limiter (Redis) or tenant database down' })
  async create(
    @Body() body: CreateEventDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<EventView> {
    const tenantId = this.context.tenantId;
    const input = body;
    checkBodyTenant(tenantId, input.tenant_id);
    checkMetadata(input.metadata);
    this.setHeaders(reply, await this.limiter.consume(tenantId, 1));
    const [result] = await this.events.ingest(tenantId, [toNew(input)]);
    if (!result.created) reply.status(HttpStatus.OK);
    return result.event;
  }

  @Post('batch')
  @HttpCode(HttpStatus.CREATED)
  @ApiOperation({ summary: 'Store 1–500 events at once, in order (one seq each)' })
  @ApiCreatedResponse({
    description: '`{data: [event…]}` in input order',
    type: EventBatchResultDto,
    headers: rateLimitHeaders,
  })
  @ApiBadRequestResponse({ description: 'An invalid event (details name it by index)' })
  @ApiForbiddenResponse({ description: 'A tenant_id names another tenant' })
  @ApiExtension(
    REFUSES_VALID_INPUT,
    'timestamps must be real RFC 3339 instants within the event window around now; metadata at most 32 levels deep, without NUL',
  )
  @ApiPayloadTooLargeResponse({ description: 'An event metadata over 64 KiB' })
  @ApiTooManyRequestsResponse({
    description: "Past the tenant's rate limit (one point per event)",
    headers: rateLimitHeaders,
  })
  @ApiServiceUnavailableResponse({ description: 'Rate limiter (Redis) or tenant database down' })
  async batch(
    @Body() body: CreateEventBatchDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ data: EventView[] }> {
    const tenantId = this.context.tenantId;
    const events = body.events;
    checkBodyTenant(tenantId, body.tenant_id);
    events.forEach((event, index) => {
      checkBodyTenant(tenantId, event.tenant_id);
      checkMetadata(event.metadata, index);
    });
    this.setHeaders(reply, await this.limiter.consume(tenantId, events.length));
    const results = await this.events.ingest(tenantId, events.map(toNew));
    return { data: results.map((r) => r.event) };
  }

  @Get()
  @ApiOperation({
    summary:
      'Events of the tenant, newest first; filters combine, search matches metadata text literally',
  })
  @ApiOkResponse({ description: '`{data, next_cursor}`', type: EventPageDto })
  @ApiBadRequestResponse({ description: 'Invalid filter, timestamp or cursor' })
  @ApiExtension(REFUSES_VALID_INPUT, 'since/until must be real RFC 3339 instants; an opaque cursor')
  @ApiServiceUnavailableResponse({ description: 'Tenant database down' })
  list(@Query() query: ListEventsQueryDto): Promise<Page<EventView>> {
    return this.events.list(query);
  }

  @Get('stats')
  @ApiOperation({
    summary: 'Totals by type and by time bucket (default: the last 24 hours, by hour)',
  })
  @ApiOkResponse({
    description: '`{total, by_type: [{event_type, count}], by_time: [{bucket_start, count}]}`',
    type: EventStatsDto,
  })
  @ApiBadRequestResponse({ description: 'Invalid range or bucket (minute, hour or day)' })
  @ApiExtension(
    REFUSES_VALID_INPUT,
    'since before until, real RFC 3339 instants, at most 10,000 buckets in the range',
  )
  @ApiServiceUnavailableResponse({ description: 'Tenant database down' })
  stats(@Query() query: EventStatsQueryDto): Promise<EventStats> {
    return this.events.stats(query);
  }

  private setHeaders(reply: FastifyReply, state: RateLimitState): void {
    reply.header('X-RateLimit-Limit', String(state.limit));
    reply.header('X-RateLimit-Remaining', String(state.remaining));
  }
}

function toNew(input: EventInput): NewEvent {
  return {
    event_type: input.event_type,
    source: input.source ?? 'api',
    timestamp: input.timestamp,
    metadata: input.metadata,
    event_id: input.event_id,
  };
}
