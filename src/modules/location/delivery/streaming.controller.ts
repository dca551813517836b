import { Controller, Get, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Authenticated } from '../../../shared/auth';
import { OwnersAndAdmins } from './owners-and-admins.decorator';
import { LedgerScopeQueryDto, StreamingHealthDto } from './retry.dto';
import { RetryLedgerService } from './retry-ledger.service';
import { StreamingHealthService } from './streaming-health.service';

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
