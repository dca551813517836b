import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import {
  ApiBody,
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiExtension,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated, MembersOnly } from '../../shared/auth';
import {
  ListLocationsQueryDto,
  ListSessionsQueryDto,
  LocationListDto,
  SessionDto,
  SessionListDto,
  StartSessionDto,
} from './sessions/session.dto';
import {
  AcceptedDto,
  BatchAcceptedDto,
  LocationBatchDto,
  LocationUpdateDto,
} from './updates/update.dto';
import { LocationSessionsService } from './sessions/location-sessions.service';
import { LocationUpdatesService } from './updates/location-updates.service';

const uuid = () => new ParseUUIDPipe();
const sessionParam = () => ApiParam({ name: 'id', format: 'uuid', description: 'Session id' });

/** Tracking sessions and location updates: the session's own user (owners may read their users'). */
@ApiTags('location')
@Authenticated()
@MembersOnly()
@ApiBadRequestResponse({ description: 'Invalid input (names the field)' })
@Controller('location')
export class LocationController {
  constructor(
    private readonly sessions: LocationSessionsService,
    private readonly updates: LocationUpdatesService,
  ) {}

  @Post('session/start')
  @ApiOperation({ summary: 'Starts a tracking session (default 600 s; the body may be empty)' })
  @ApiBody({ type: StartSessionDto, required: false })
  @ApiCreatedResponse({ type: SessionDto })
  @ApiConflictResponse({ description: 'The caller already has an active session' })
  @ApiExtension('x-refuses-valid-input', 'device_info must be at most 4 KB of JSON')
  start(@Body() body: StartSessionDto): Promise<SessionDto> {
    return this.sessions.start(body);
  }

  @Post('update')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Records a location: 202 only after Kafka acknowledged it (acks=all)',
  })
  @ApiAcceptedResponse({ type: AcceptedDto })
  @ApiExtension(
    'x-refuses-valid-input',
    'recorded_at must not be more than 30 s in the future nor before the session started (400 LOCATION.INVALID_UPDATE)',
  )
  @ApiNotFoundResponse({ description: 'Unknown or foreign session' })
  @ApiConflictResponse({ description: 'The session is not active' })
  @ApiServiceUnavailableResponse({ description: 'Kafka did not acknowledge in time (Retry-After)' })
  async update(@Body() body: LocationUpdateDto): Promise<AcceptedDto> {
    const [eventId] = await this.updates.accept(body.session_id, [body], () => 'recorded_at');
    return { event_id: eventId, status: 'accepted' };
  }

  @Post('updates')
  @HttpCode(202)
  @ApiOperation({ summary: 'Records up to 500 buffered locations of one session' })
  @ApiAcceptedResponse({ type: BatchAcceptedDto })
  @ApiExtension(
    'x-refuses-valid-input',
    'each recorded_at must not be more than 30 s in the future nor before the session started',
  )
  @ApiNotFoundResponse({ description: 'Unknown or foreign session' })
  @ApiConflictResponse({ description: 'The session is not active' })
  @ApiServiceUnavailableResponse({ description: 'Kafka did not acknowledge in time (Retry-After)' })
  async updatesBatch(@Body() body: LocationBatchDto): Promise<BatchAcceptedDto> {
    const eventIds = await this.updates.accept(
      body.session_id,
      body.points,
      (i) => `points.${i}.recorded_at`,
    );
    return { event_ids: eventIds, status: 'accepted' };
  }

  @Get('sessions')
  @ApiOperation({
    summary: "The caller's sessions, newest first (owners: ?user_id= for any user of the tenant)",
  })
  @ApiOkResponse({ type: SessionListDto })
  list(@Query() query: ListSessionsQueryDto): Promise<SessionListDto> {
    return this.sessions.list(query);
  }

  @Get('session/:id')
  @sessionParam()
  @ApiOperation({ summary: 'One session' })
  @ApiOkResponse({ type: SessionDto })
  @ApiNotFoundResponse({ description: 'Unknown or foreign session' })
  get(@Param('id', uuid()) id: string): Promise<SessionDto> {
    return this.sessions.get(id);
  }

  @Post('session/:id/stop')
  @HttpCode(200)
  @sessionParam()
  @ApiOperation({ summary: 'Ends the session (status ended, elapsed duration_seconds)' })
  @ApiOkResponse({ type: SessionDto })
  @ApiNotFoundResponse({ description: 'Unknown or foreign session' })
  @ApiConflictResponse({ description: 'The session is not active' })
  stop(@Param('id', uuid()) id: string): Promise<SessionDto> {
    return this.sessions.stop(id);
  }

  @Get('session/:id/locations')
  @sessionParam()
  @ApiOperation({ summary: "The session's recorded locations" })
  @ApiOkResponse({ type: LocationListDto })
  @ApiNotFoundResponse({ description: 'Unknown or foreign session' })
  locations(
    @Param('id', uuid()) id: string,
    @Query() query: ListLocationsQueryDto,
  ): Promise<LocationListDto> {
    return this.sessions.locations(id, query);
  }
}
