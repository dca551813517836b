import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated } from '../../../shared/auth';
import { OwnersAndAdmins } from './owners-and-admins.decorator';
import {
  LedgerListDto,
  LedgerListQueryDto,
  LedgerScopeQueryDto,
  LedgerStatsDto,
  ReplayAcceptedDto,
} from './retry.dto';
import { RetryLedgerService } from './retry-ledger.service';

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
