import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiExtension,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Authenticated, headerValue, Public } from '../../shared/auth';
import { type Principal, TenantContext } from '../../shared/tenant-context';
import { authError } from './auth.errors';
import { AuthService, type ClientMeta } from './auth.service';
import {
  LoginDto,
  LogoutQueryDto,
  MeView,
  RefreshDto,
  RegisterDto,
  RegisteredView,
  SessionListView,
  TokensView,
} from './dto/auth.dto';
import { bearerToken, sessionOf } from './session.authenticator';
import { SessionStore } from './session.store';

/** Only a user session can call it: the OpenAPI document offers no API key (src/http/openapi.ts). */
const SessionOnly = () => ApiExtension('x-session-only', true);

const meta = (request: FastifyRequest): ClientMeta => ({
  ip: request.ip,
  userAgent: headerValue(request.headers['user-agent']),
});

@ApiTags('auth')
@ApiServiceUnavailableResponse({ description: 'Cognito or the session store does not answer' })
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly sessions: SessionStore,
    private readonly context: TenantContext,
  ) {}

  @Post('register')
  @Public()
  @ApiOperation({ summary: 'Sign up into a tenant that allows it, always as user' })
  @ApiCreatedResponse({ type: RegisteredView })
  @ApiBadRequestResponse({ description: 'Invalid input or a password the pool refuses' })
  @ApiForbiddenResponse({ description: 'Sign-up closed, or asking for tenant_owner' })
  @ApiNotFoundResponse({ description: 'Unknown tenant' })
  @ApiConflictResponse({
    description: 'An account with this email exists (and the password did not prove it)',
  })
  @ApiTooManyRequestsResponse({
    description: 'Too many attempts for this account or address (Retry-After)',
  })
  register(@Body() body: RegisterDto, @Req() request: FastifyRequest): Promise<RegisteredView> {
    return this.auth.register(body, meta(request));
  }

  @Post('login')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: 'Log in with email (or username) and password; opens a session' })
  @ApiOkResponse({ type: TokensView })
  @ApiUnauthorizedResponse({ description: 'Wrong credentials (one generic message)' })
  @ApiForbiddenResponse({
    description: 'Account not confirmed, or not a member of the tenant asked for',
  })
  @ApiTooManyRequestsResponse({
    description: 'Too many attempts for this account or address (Retry-After)',
  })
  login(@Body() body: LoginDto, @Req() request: FastifyRequest): Promise<TokensView> {
    return this.auth.login(body, meta(request));
  }

  @Post('refresh')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: 'New access token from a refresh token; opens a new session' })
  @ApiOkResponse({ type: TokensView })
  @ApiUnauthorizedResponse({ description: 'Invalid or revoked refresh token' })
  @ApiTooManyRequestsResponse({ description: 'Too many attempts (Retry-After)' })
  refresh(@Body() body: RefreshDto, @Req() request: FastifyRequest): Promise<TokensView> {
    return this.auth.refresh(body, meta(request));
  }

  @Post('logout')
  @Authenticated()
  @SessionOnly()
  @HttpCode(204)
  @ApiOperation({
    summary: 'Ends this session; ?all=true signs out everywhere (refresh tokens revoked)',
  })
  @ApiNoContentResponse({ description: 'Signed out' })
  async logout(@Query() query: LogoutQueryDto, @Req() request: FastifyRequest): Promise<void> {
    const principal = this.sessionPrincipal();
    const all = query.all === 'true' || query.all === '1';
    await this.auth.logout(
      principal,
      bearerToken(headerValue(request.headers.authorization))!,
      all,
    );
  }

  @Get('me')
  @Authenticated()
  @SessionOnly()
  @ApiOperation({ summary: 'The caller: user, tenant of this request, role, memberships' })
  @ApiOkResponse({ type: MeView })
  me(): MeView {
    const principal = this.sessionPrincipal();
    // From the session (kept current by membership changes): no database round trip per call.
    const memberships = sessionOf(principal)?.memberships ?? [];
    return {
      user_id: principal.userId!,
      email: principal.email ?? '',
      tenant_id: principal.tenantId ?? null,
      role: principal.role ?? null,
      is_admin: principal.isPlatformAdmin,
      session_id: principal.sessionId ?? null,
      memberships: memberships.map((m) => ({ tenant_id: m.tenantId, role: m.role })),
    };
  }

  @Get('sessions')
  @Authenticated()
  @SessionOnly()
  @ApiOperation({ summary: "The caller's open sessions (every tenant), the current one flagged" })
  @ApiOkResponse({ type: SessionListView })
  async list(): Promise<SessionListView> {
    const principal = this.sessionPrincipal();
    const sessions = await this.sessions.listForUser(principal.userId!);
    return {
      data: sessions.map((s) => ({
        id: s.id,
        tenant_id: s.tenantId ?? null,
        created_at: s.createdAt,
        last_seen_at: s.lastSeenAt,
        expires_at: s.expiresAt,
        ip: s.ip ?? null,
        user_agent: s.userAgent ?? null,
        current: s.id === principal.sessionId,
      })),
    };
  }

  @Delete('sessions/:id')
  @Authenticated()
  @SessionOnly()
  @HttpCode(204)
  @ApiOperation({ summary: 'Ends one of the caller’s sessions (another user’s id is a 404)' })
  @ApiNoContentResponse({ description: 'Session ended' })
  @ApiNotFoundResponse({ description: 'The caller has no such session' })
  async end(@Param('id', new ParseUUIDPipe()) id: string): Promise<void> {
    const principal = this.sessionPrincipal();
    if (!(await this.sessions.endById(principal.userId!, id, 'revoked'))) {
      throw authError('AUTH.SESSION_NOT_FOUND', 'You have no session with this id');
    }
  }

  private sessionPrincipal(): Principal {
    const principal = this.context.principal;
    if (principal.via !== 'session' || !principal.userId) {
      throw authError(
        'AUTH.FORBIDDEN',
        'This route needs a user session (Authorization: Bearer), not an API key',
      );
    }
    return principal;
  }
}
