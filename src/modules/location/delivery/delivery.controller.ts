import { Body, Controller, Get, Put } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiExtension,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Authenticated } from '../../../shared/auth';
import { TenantContext } from '../../../shared/tenant-context';
import { DeliveryDto, PutDeliveryDto } from './delivery.dto';
import { DeliverySettingsService } from './delivery-settings.service';
import { OwnersAndAdmins } from './owners-and-admins.decorator';

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
      'Sets the delivery target (https, public address unless the operator allows the host) and whether it takes batches; a new signing secret is shown once',
  })
  @ApiOkResponse({ type: DeliveryDto })
  @ApiBadRequestResponse({ description: 'endpoint_url not allowed (scheme, address) or invalid' })
  @ApiExtension(
    'x-refuses-valid-input',
    'endpoint_url must be https:// and resolve to public addresses (400 OUTBOUND.URL_NOT_ALLOWED); rotate_signing_secret and batch need an endpoint_url of the tenant (400 LOCATION.SIGNING_NEEDS_ENDPOINT, LOCATION.BATCH_NEEDS_ENDPOINT)',
  )
  put(@Body() body: PutDeliveryDto): Promise<DeliveryDto> {
    return this.settings.put(this.context.tenantId, body);
  }
}
