import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiExtension,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Allow, Authenticated } from '../../../shared/auth';
import { TenantContext } from '../../../shared/tenant-context';
import { DeliveryDto, PutDeliveryDto } from './delivery.dto';
import {
  LedgerListDto,
  LedgerListQueryDto,
  LedgerScopeQueryDto,
  LedgerStatsDto,
  ReplayAcceptedDto,
  StreamingHealthDto,
} from './retry.dto';
import { DeliverySettingsService } from './delivery-settings.service';
import { RetryLedgerService } from './retry-ledger.service';
import { StreamingHealthService } from './streaming-health.service';

const OwnersAndAdmins = () => Allow({ platformAdmin: true, roles: ['tenant_owner'] });

/** Where this tenant's updates are delivered (its owners, or a platform admin with X-Tenant-ID). */
@ApiTags('location')
@Authenticated()
@OwnersAndAdmins()
@Controller('location/delivery')
export class DeliveryController {
  constructor(
    private readonly settings: DeliverySettingsService,
    private readonly context: TenantContext,
  ) {}

  @Get()
  @ApiOperation({ summary: "Where this tenant's location updates are delivered" })
  @ApiOkResponse({ type: DeliveryDto })
  get(): Promise<DeliveryDto> {
    return this.settings.view(this.context.tenantId);
  }

  @Put()
  @ApiOperation({
    summary:
      'Sets the delivery target (https, public address unless the operator allows the host); a new signing secret is shown once',
  })
  @ApiOkResponse({ type: DeliveryDto })
  @ApiBadRequestResponse({ description: 'endpoint_url not allowed (scheme, address) or invalid' })
  @ApiExtension(
    'x-refuses-valid-input',
    'endpoint_url must be https:// and resolve to public addresses (400 OUTBOUND.URL_NOT_ALLOWED); rotate_signing_secret needs an endpoint_url of the tenant (400 LOCATION.SIGNING_NEEDS_ENDPOINT)',
  )
  put(@Body() body: PutDeliveryDto): Promise<DeliveryDto> {
    return this.settings.put(this.context.tenantId, body);
  }
}

/** The retry ledger: a tenant owner sees its own tenant; a platform admin all, or `?tenant_id=`. */
@ApiTags('location')
@Authenticated()
@OwnersAndAdmins()
@ApiBadRequestResponse({ description: 'Invalid query' })
@Controller('retry')
export class RetryController {
  constructor(private readonly ledger: RetryLedgerService) {}

  @Get('stats')
  @ApiOperation({ summary: 'Ledger counts by status, retries histogram, oldest pending, next due' })
  @ApiOkResponse({ type: LedgerStatsDto })
  stats(@Query() query: LedgerScopeQueryDto): Promise<LedgerStatsDto> {
    return this.ledger.stats(query.tenant_id);
  }

  @Get('failed')
  @ApiOperation({ summary: 'Ledger rows, newest first' })
  @ApiOkResponse({ type: LedgerListDto })
  list(@Query() query: LedgerListQueryDto): Promise<LedgerListDto> {
    return this.ledger.list(query);
  }

  @Post('failed/:id/retry')
  @HttpCode(202)
  @ApiParam({ name: 'id', format: 'uuid', description: 'Ledger row id' })
  @ApiOperation({ summary: 'Makes a pending, retried or permanently_failed row due now' })
  @ApiAcceptedResponse({ type: ReplayAcceptedDto })
  @ApiNotFoundResponse({ description: 'No such row (in your tenant)' })
  @ApiConflictResponse({ description: 'Already resolved' })
  replay(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Query() query: LedgerScopeQueryDto,
  ): Promise<ReplayAcceptedDto> {
    return this.ledger.replay(id, query.tenant_id);
  }
}

/**
 * The streaming consumer's health: a tenant owner sees its own tenant's targets and errors; a
 * platform admin every tenant's, or `?tenant_id=`.
 */
@ApiTags('location')
@Authenticated()
@OwnersAndAdmins()
@ApiBadRequestResponse({ description: 'Invalid query' })
@Controller('streaming')
export class StreamingController {
  constructor(
    private readonly health: StreamingHealthService,
    private readonly ledger: RetryLedgerService,
  ) {}

  @Get('health')
  @ApiOperation({
    summary:
      'Streamer state, lag per partition, breaker per (tenant, target) with last success and error',
  })
  @ApiOkResponse({ type: StreamingHealthDto })
  @ApiServiceUnavailableResponse({ description: 'The streamer is not consuming' })
  async get(
    @Query() query: LedgerScopeQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamingHealthDto> {
    const { body, consuming } = await this.health.report(this.ledger.scope(query.tenant_id));
    if (!consuming) void reply.status(503);
    return body;
  }
}
