import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../shared/auth';
import { TenantContext } from '../shared/tenant-context';

@ApiTags('context')
@Authenticated()
@Controller('context')
export class ContextController {
  constructor(private readonly context: TenantContext) {}

  @Get()
  @ApiOperation({ summary: 'The tenant context of this request, as the server sees it' })
  @ApiOkResponse({
    description: '`{tenant_id, user_id, role, request_id, via}`',
    schema: {
      type: 'object',
      required: ['tenant_id', 'user_id', 'role', 'via'],
      properties: {
        tenant_id: { type: 'string', format: 'uuid' },
        user_id: { type: 'string', nullable: true },
        role: { type: 'string', enum: ['tenant_owner', 'user'], nullable: true },
        request_id: { type: 'string' },
        via: { type: 'string', enum: ['session', 'api_key', 'header', 'message'] },
      },
    },
  })
  whoami(): {
    tenant_id: string;
    user_id: string | null;
    role: string | null;
    request_id?: string;
    via: string;
  } {
    const principal = this.context.principal;
    return {
      tenant_id: this.context.tenantId,
      user_id: principal.userId ?? null,
      role: principal.role ?? null,
      request_id: this.context.requestId,
      via: principal.via,
    };
  }
}
