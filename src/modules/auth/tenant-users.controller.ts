import {
  applyDecorators,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
  Query,
} from '@nestjs/common';
import {
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import { Allow, Authenticated } from '../../shared/auth';
import {
  AddTenantUserDto,
  ChangeRoleDto,
  ListQueryDto,
  TenantUserDto,
  TenantUserListDto,
} from './dto/tenant-users.dto';
import { TenantUsersService } from './tenant-users.service';

const OwnersAndAdmins = () => Allow({ platformAdmin: true, roles: ['tenant_owner'] });
const uuid = () => new ParseUUIDPipe();

/** Answers of the routes beyond what every guarded route answers (src/http/openapi.ts). */
const AddAnswers = () =>
  applyDecorators(
    ApiConflictResponse({ description: 'Already a member (AUTH.ALREADY_MEMBER)' }),
    ApiTooManyRequestsResponse({ description: 'The identity provider throttles (Retry-After)' }),
  );
const LastOwner = () =>
  ApiConflictResponse({
    description: 'The tenant keeps at least one owner (AUTH.LAST_OWNER)',
  });

/** `/tenants/:id/users`: a tenant owner (of that tenant) or a platform admin. */
@ApiTags('tenant users')
@Authenticated()
@OwnersAndAdmins()
@Controller('tenants/:id/users')
export class TenantUsersController {
  constructor(private readonly users: TenantUsersService) {}

  @Get()
  @ApiOperation({ summary: "The tenant's users" })
  @ApiOkResponse({ type: TenantUserListDto })
  async list(
    @Param('id', uuid()) id: string,
    @Query() query: ListQueryDto,
  ): Promise<TenantUserListDto> {
    return this.users.list(await this.users.managedTenant(id), query);
  }

  @Post()
  @ApiOperation({
    summary:
      'Adds a user: creates the Cognito account (invitation or temporary password) and the membership',
  })
  @ApiCreatedResponse({ type: TenantUserDto })
  @AddAnswers()
  async add(
    @Param('id', uuid()) id: string,
    @Body() body: AddTenantUserDto,
  ): Promise<TenantUserDto> {
    return this.users.add(await this.users.managedTenant(id), body);
  }

  @Put(':user_id')
  @ApiOperation({ summary: "Changes a user's role (the tenant keeps at least one owner)" })
  @ApiOkResponse({ type: TenantUserDto })
  @ApiNotFoundResponse({ description: 'No such user in the tenant' })
  @LastOwner()
  async changeRole(
    @Param('id', uuid()) id: string,
    @Param('user_id', uuid()) userId: string,
    @Body() body: ChangeRoleDto,
  ): Promise<TenantUserDto> {
    return this.users.changeRole(await this.users.managedTenant(id), userId, body);
  }

  @Delete(':user_id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Removes a user from the tenant and ends their sessions in it' })
  @ApiNoContentResponse({ description: 'Removed' })
  @LastOwner()
  async remove(
    @Param('id', uuid()) id: string,
    @Param('user_id', uuid()) userId: string,
  ): Promise<void> {
    await this.users.remove(await this.users.managedTenant(id), userId);
  }
}

/** `/tenant/users`: the same for the tenant of this request. */
@ApiTags('tenant users')
@Authenticated()
@OwnersAndAdmins()
@Controller('tenant/users')
export class CurrentTenantUsersController {
  constructor(private readonly users: TenantUsersService) {}

  @Get()
  @ApiOperation({ summary: "The current tenant's users" })
  @ApiOkResponse({ type: TenantUserListDto })
  async list(@Query() query: ListQueryDto): Promise<TenantUserListDto> {
    return this.users.list(await this.users.managedTenant(), query);
  }

  @Post()
  @ApiOperation({ summary: 'Adds a user to the current tenant' })
  @ApiCreatedResponse({ type: TenantUserDto })
  @AddAnswers()
  async add(@Body() body: AddTenantUserDto): Promise<TenantUserDto> {
    return this.users.add(await this.users.managedTenant(), body);
  }

  @Get(':user_id')
  @ApiOperation({ summary: 'One user of the current tenant' })
  @ApiOkResponse({ type: TenantUserDto })
  async get(@Param('user_id', uuid()) userId: string): Promise<TenantUserDto> {
    return this.users.get(await this.users.managedTenant(), userId);
  }

  @Put(':user_id')
  @ApiOperation({ summary: "Changes a user's role in the current tenant" })
  @ApiOkResponse({ type: TenantUserDto })
  @LastOwner()
  async changeRole(
    @Param('user_id', uuid()) userId: string,
    @Body() body: ChangeRoleDto,
  ): Promise<TenantUserDto> {
    return this.users.changeRole(await this.users.managedTenant(), userId, body);
  }

  @Delete(':user_id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Removes a user from the current tenant' })
  @ApiNoContentResponse({ description: 'Removed' })
  @LastOwner()
  async remove(@Param('user_id', uuid()) userId: string): Promise<void> {
    await this.users.remove(await this.users.managedTenant(), userId);
  }
}
