import {
  applyDecorators,
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiExtension,
  ApiAcceptedResponse,
  ApiForbiddenResponse,
  ApiBadRequestResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiConflictResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Allow, Authenticated } from '../../shared/auth';
import type { Page } from '../../shared/pagination';
import {
  ConcurrencyDto,
  type ConsumerStatus,
  ConsumerStatusDto,
  ConsumerStatusListDto,
  ListMessagesQueryDto,
  MessageDto,
  MessageListDto,
  type MessageView,
  PublishMessageDto,
  QueueConfigDto,
  type QueueConfigView,
  QueueConfigViewDto,
  queueName as queueNameSchema,
  type TenantConcurrencyView,
  TenantConcurrencyViewDto,
} from './dto/messaging.dto';
import { ConsumerStatusService } from './consumer-status.service';
import { MessagesService } from './messages.service';
import { MessagingAccess } from './messaging-access';
import { messagingError } from './messaging.errors';
import { QueueSettingsService } from './queue-settings.service';

const Members = () => Allow({ platformAdmin: true, roles: 'any' });
const Owners = () => Allow({ platformAdmin: true, roles: ['tenant_owner'] });
const uuid = () => new ParseUUIDPipe();
const TenantIdParam = () =>
  ApiParam({ name: 'id', format: 'uuid', description: 'The tenant (your own)' });

function checkQueueName(value: string): string {
  const parsed = queueNameSchema.safeParse(value);
  if (!parsed.success) {
    throw messagingError(
      'MESSAGING.INVALID_QUEUE_NAME',
      `queue_name: ${parsed.error.issues[0].message}`,
      [{ field: 'queue_name', message: parsed.error.issues[0].message }],
    );
  }
  return parsed.data;
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;

function idempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    const message = `at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters (got ${value.length})`;
    throw messagingError('MESSAGING.INVALID_IDEMPOTENCY_KEY', `Idempotency-Key: ${message}`, [
      { field: 'Idempotency-Key', in: 'header', message },
    ]);
  }
  return value;
}

const IdempotencyKeyHeader = () =>
  ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    schema: { type: 'string', maxLength: MAX_IDEMPOTENCY_KEY_LENGTH },
    description:
      'A retried POST with the same key answers 202 with the first message as it is now (Idempotent-Replayed: true), or 409 MESSAGING.MESSAGE_FAILED when that message has failed; longer than 200 characters: 400 MESSAGING.INVALID_IDEMPOTENCY_KEY',
  });

const PublishDocs = () =>
  applyDecorators(
    ApiAcceptedResponse({ type: MessageDto, description: 'Stored and confirmed by the broker' }),
    ApiBadRequestResponse({ description: 'Invalid queue_name, body or Idempotency-Key' }),
    ApiForbiddenResponse({
      description:
        "Another tenant than the caller's, or a request naming two (X-Tenant-ID, path, tenant_id): nothing is stored",
    }),
    ApiNotFoundResponse({ description: 'Unknown tenant' }),
    ApiConflictResponse({
      description:
        'A new queue_name past MESSAGING_MAX_QUEUES_PER_TENANT (MESSAGING.QUEUE_LIMIT_REACHED): nothing is stored',
    }),
    ApiPayloadTooLargeResponse({ description: 'payload over 256 KiB' }),
    ApiTooManyRequestsResponse({
      description:
        "The tenant's queue is full for now: the message is stored and the relay publishes it when the queue has room (Retry-After; details name it)",
    }),
    ApiServiceUnavailableResponse({
      description:
        'The broker did not confirm: the message is stored and the relay publishes it later (Retry-After; details name it)',
    }),
  );

/** No schema can say it: jsonb refuses U+0000 anywhere in the payload. */
const NUL_REFUSED = 'payload strings and keys must not contain U+0000 (400 COMMON.VALIDATION)';

/** Messages: publish, list, read, retry. Any member of the tenant or its API key. */
@ApiTags('messaging')
@Authenticated()
@ApiSecurity('api-key')
@Controller()
export class MessagingController {
  constructor(
    private readonly access: MessagingAccess,
    private readonly messages: MessagesService,
    private readonly settings: QueueSettingsService,
    private readonly status: ConsumerStatusService,
  ) {}

  @Post('messages')
  @Members()
  @HttpCode(HttpStatus.ACCEPTED)
  @PublishDocs()
  @ApiOperation({ summary: "Publishes a message to one of the caller's tenant queues" })
  @ApiExtension('x-refuses-valid-input', NUL_REFUSED)
  @IdempotencyKeyHeader()
  async publish(
    @Body() body: PublishMessageDto,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<MessageView> {
    const tenantId = await this.access.publishTenantFor(body.tenant_id);
    return this.doPublish(tenantId, body, key, reply);
  }

  @Post('tenants/:id/messages')
  @Members()
  @HttpCode(HttpStatus.ACCEPTED)
  @TenantIdParam()
  @PublishDocs()
  @ApiOperation({ summary: 'Publishes a message to a queue of this tenant' })
  @ApiExtension('x-refuses-valid-input', NUL_REFUSED)
  @IdempotencyKeyHeader()
  async publishToTenant(
    @Param('id', uuid()) id: string,
    @Body() body: PublishMessageDto,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<MessageView> {
    const tenantId = await this.access.publishTenantFor(id, body.tenant_id);
    return this.doPublish(tenantId, body, key, reply);
  }

  @Get('messages')
  @Members()
  @ApiOperation({ summary: "The tenant's messages, newest first (cursor pagination)" })
  @ApiOkResponse({ type: MessageListDto })
  @ApiBadRequestResponse({ description: 'Malformed cursor or filter' })
  async list(@Query() query: ListMessagesQueryDto): Promise<Page<MessageView>> {
    return this.messages.list(await this.access.tenantFor(query.tenant_id), query);
  }

  @Get('tenants/:id/messages')
  @Members()
  @TenantIdParam()
  @ApiOperation({ summary: "This tenant's messages, newest first" })
  @ApiOkResponse({ type: MessageListDto })
  @ApiBadRequestResponse({ description: 'Malformed cursor or filter' })
  @ApiNotFoundResponse({ description: 'Unknown tenant' })
  async listForTenant(
    @Param('id', uuid()) id: string,
    @Query() query: ListMessagesQueryDto,
  ): Promise<Page<MessageView>> {
    return this.messages.list(await this.access.tenantFor(id), query);
  }

  @Get('messages/:id')
  @Members()
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOperation({ summary: 'One message with its status, attempts and last error' })
  @ApiOkResponse({ type: MessageDto })
  @ApiNotFoundResponse({ description: 'No such message in your tenant' })
  async get(@Param('id', uuid()) id: string): Promise<MessageView> {
    return this.messages.get(await this.access.tenantFor(), id);
  }

  @Post('messages/:id/retry')
  @Owners()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOperation({ summary: 'Publishes a failed message again, attempts reset (tenant owners)' })
  @ApiAcceptedResponse({ type: MessageDto })
  @ApiNotFoundResponse({ description: 'No such message in your tenant' })
  @ApiConflictResponse({ description: 'The message is not failed' })
  @ApiServiceUnavailableResponse({ description: 'Broker down (the relay publishes it later)' })
  async retry(@Param('id', uuid()) id: string): Promise<MessageView> {
    return this.messages.retry(await this.access.tenantFor(), id);
  }

  @Put('tenants/:id/config/concurrency')
  @Owners()
  @TenantIdParam()
  @ApiOperation({
    summary: 'Workers (1–50) for every queue of the tenant, on every instance, without restart',
  })
  @ApiOkResponse({ type: TenantConcurrencyViewDto })
  @ApiBadRequestResponse({ description: 'workers outside 1–50 or not a whole number' })
  @ApiNotFoundResponse({ description: 'Unknown tenant' })
  async setConcurrency(
    @Param('id', uuid()) id: string,
    @Body() body: ConcurrencyDto,
  ): Promise<TenantConcurrencyView> {
    const tenantId = await this.access.tenantFor(id);
    return this.settings.setTenantWorkers(tenantId, (body.workers ?? body.concurrency_config)!);
  }

  @Put('tenants/:id/consumers/:queue_name/config')
  @Owners()
  @TenantIdParam()
  @ApiParam({ name: 'queue_name', schema: { type: 'string', pattern: '^[a-z0-9_-]{1,64}$' } })
  @ApiOperation({
    summary: "One queue's workers, max_attempts and webhook_url (live on every instance)",
  })
  @ApiOkResponse({ type: QueueConfigViewDto })
  @ApiBadRequestResponse({
    description: 'Invalid workers, max_attempts, queue name or webhook URL',
  })
  @ApiNotFoundResponse({ description: 'Unknown tenant' })
  @ApiConflictResponse({
    description:
      'A new queue past MESSAGING_MAX_QUEUES_PER_TENANT (MESSAGING.QUEUE_LIMIT_REACHED): nothing is made',
  })
  async configureQueue(
    @Param('id', uuid()) id: string,
    @Param('queue_name') queue: string,
    @Body() body: QueueConfigDto,
  ): Promise<QueueConfigView> {
    const queueName = checkQueueName(queue);
    const tenantId = await this.access.tenantFor(id);
    return this.settings.configureQueue(tenantId, queueName, body);
  }

  @Get('tenants/:id/consumers/:queue_name/status')
  @Owners()
  @TenantIdParam()
  @ApiParam({ name: 'queue_name', schema: { type: 'string', pattern: '^[a-z0-9_-]{1,64}$' } })
  @ApiOperation({ summary: 'A queue consumer’s status per instance and in total' })
  @ApiOkResponse({ type: ConsumerStatusDto })
  @ApiNotFoundResponse({ description: 'Unknown tenant or queue' })
  async queueStatus(
    @Param('id', uuid()) id: string,
    @Param('queue_name') queue: string,
  ): Promise<ConsumerStatus> {
    const queueName = checkQueueName(queue);
    return this.status.forQueue(await this.access.tenantFor(id), queueName);
  }

  @Get('consumers/status')
  @Owners()
  @ApiOperation({
    summary: 'Status of every queue the caller may see (platform admin: all tenants)',
  })
  @ApiOkResponse({ type: ConsumerStatusListDto })
  async allStatus(): Promise<{ data: ConsumerStatus[] }> {
    const tenantId = this.access.visibleTenant();
    if (tenantId) await this.access.tenantFor(tenantId);
    return { data: await this.status.list(tenantId) };
  }

  private async doPublish(
    tenantId: string,
    body: PublishMessageDto,
    key: string | undefined,
    reply: FastifyReply,
  ): Promise<MessageView> {
    // A queue not made yet: owners and admins only, within the tenant's cap (before storing).
    await this.settings.admitPublish(tenantId, body.queue_name, this.access.mayCreateQueues);
    const { message, replayed } = await this.messages.publish(tenantId, {
      queueName: body.queue_name,
      payload: body.payload !== undefined ? body.payload : body.message_body,
      idempotencyKey: idempotencyKey(key),
    });
    if (replayed) reply.header('Idempotent-Replayed', 'true');
    return message;
  }
}
