import {
  AdminConfirmSignUpCommand,
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminGetUserCommand,
  AdminSetUserPasswordCommand,
  type AuthenticationResultType,
  type CognitoIdentityProviderClient,
  GlobalSignOutCommand,
  InitiateAuthCommand,
  RespondToAuthChallengeCommand,
  SignUpCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { cognitoConfig, type CognitoConfig } from '../../config';
import { AwsClients } from '../../shared/aws';
import { AppError, commonError } from '../../shared/errors';
import { authError, invalidCredentials } from './auth.errors';

const CALL_TIMEOUT_MS = 5_000;

export interface CognitoTokens {
  accessToken: string;
  idToken: string;
  /** Absent on REFRESH_TOKEN_AUTH: the caller keeps the refresh token it sent. */
  refreshToken?: string;
  expiresIn: number;
  tokenType: string;
}

/** Cognito's answers mapped to the API's: never a 500 for a known refusal, 503 when it does not answer. */
const KNOWN: Record<string, () => AppError> = {
  NotAuthorizedException: invalidCredentials,
  UserNotFoundException: invalidCredentials,
  UserNotConfirmedException: () =>
    authError('AUTH.USER_NOT_CONFIRMED', 'This account is not confirmed yet'),
  PasswordResetRequiredException: () =>
    authError(
      'AUTH.PASSWORD_CHANGE_REQUIRED',
      'This account must reset its password before logging in',
    ),
  UsernameExistsException: () =>
    authError('AUTH.ACCOUNT_EXISTS', 'An account with this email already exists'),
  InvalidPasswordException: () =>
    authError('AUTH.INVALID_PASSWORD', 'The password does not meet the password policy'),
  InvalidParameterException: () =>
    commonError('COMMON.VALIDATION', 'The identity provider refused the input'),
  TooManyRequestsException: () =>
    authError('AUTH.RATE_LIMITED', 'Too many requests; try again later'),
  LimitExceededException: () =>
    authError('AUTH.RATE_LIMITED', 'Too many requests; try again later'),
  CodeDeliveryFailureException: () =>
    authError('AUTH.IDENTITY_PROVIDER_UNAVAILABLE', 'The confirmation message could not be sent'),
};

/** Every Cognito call the app makes (user pool + app client of the configuration). */
@Injectable()
export class CognitoClient {
  private readonly logger = new Logger(CognitoClient.name);
  private readonly client: CognitoIdentityProviderClient;

  constructor(
    aws: AwsClients,
    @Inject(cognitoConfig.KEY) private readonly config: CognitoConfig,
  ) {
    this.client = aws.cognito;
  }

  async signUp(
    email: string,
    password: string,
    name?: string,
  ): Promise<{ userId: string; confirmed: boolean }> {
    const attributes = [
      { Name: 'email', Value: email },
      ...(name ? [{ Name: 'name', Value: name }] : []),
    ];
    const out = await this.call((o) =>
      this.client.send(
        new SignUpCommand({
          ClientId: this.config.clientId,
          SecretHash: this.secretHash(email),
          Username: email,
          Password: password,
          UserAttributes: attributes,
        }),
        o,
      ),
    );
    return { userId: out.UserSub!, confirmed: out.UserConfirmed ?? false };
  }

  async adminConfirm(email: string): Promise<void> {
    await this.call((o) =>
      this.client.send(
        new AdminConfirmSignUpCommand({ UserPoolId: this.config.userPoolId, Username: email }),
        o,
      ),
    );
  }

  /** USER_PASSWORD_AUTH; a NEW_PASSWORD_REQUIRED challenge is answered with `newPassword` when given. */
  async passwordAuth(
    email: string,
    password: string,
    newPassword?: string,
  ): Promise<CognitoTokens> {
    const out = await this.call((o) =>
      this.client.send(
        new InitiateAuthCommand({
          AuthFlow: 'USER_PASSWORD_AUTH',
          ClientId: this.config.clientId,
          AuthParameters: { USERNAME: email, PASSWORD: password, ...this.secretParam(email) },
        }),
        o,
      ),
    );
    if (out.ChallengeName === 'NEW_PASSWORD_REQUIRED') {
      if (!newPassword) {
        throw authError(
          'AUTH.PASSWORD_CHANGE_REQUIRED',
          'This account has a temporary password: log in again with new_password set',
        );
      }
      const answer = await this.call((o) =>
        this.client.send(
          new RespondToAuthChallengeCommand({
            ClientId: this.config.clientId,
            ChallengeName: 'NEW_PASSWORD_REQUIRED',
            Session: out.Session,
            ChallengeResponses: {
              USERNAME: email,
              NEW_PASSWORD: newPassword,
              ...this.secretParam(email),
            },
          }),
          o,
        ),
      );
      return this.tokens(answer.AuthenticationResult);
    }
    if (out.ChallengeName) {
      throw authError(
        'AUTH.PASSWORD_CHANGE_REQUIRED',
        `Cognito asks for ${out.ChallengeName}, which this API does not handle`,
      );
    }
    return this.tokens(out.AuthenticationResult);
  }

  /** REFRESH_TOKEN_AUTH. `username` is needed only to compute SECRET_HASH. */
  async refresh(refreshToken: string, username?: string): Promise<CognitoTokens> {
    try {
      const out = await this.call((o) =>
        this.client.send(
          new InitiateAuthCommand({
            AuthFlow: 'REFRESH_TOKEN_AUTH',
            ClientId: this.config.clientId,
            AuthParameters: {
              REFRESH_TOKEN: refreshToken,
              ...(username ? this.secretParam(username) : {}),
            },
          }),
          o,
        ),
      );
      return this.tokens(out.AuthenticationResult);
    } catch (error) {
      if (error instanceof AppError && error.code === 'AUTH.INVALID_CREDENTIALS') {
        throw authError('AUTH.INVALID_REFRESH_TOKEN', 'Invalid or revoked refresh token');
      }
      throw error;
    }
  }

  /** Revokes every refresh token of the user (their access tokens die with their sessions). */
  async globalSignOut(accessToken: string): Promise<void> {
    try {
      await this.call((o) =>
        this.client.send(new GlobalSignOutCommand({ AccessToken: accessToken }), o),
      );
    } catch (error) {
      // Already signed out elsewhere: the goal is reached.
      if (!(error instanceof AppError && error.code === 'AUTH.INVALID_CREDENTIALS')) throw error;
    }
  }

  /** Creates a user who is invited (Cognito e-mails a temporary password) or given `temporaryPassword`. */
  async adminCreateUser(email: string, temporaryPassword?: string): Promise<string> {
    const out = await this.call((o) =>
      this.client.send(
        new AdminCreateUserCommand({
          UserPoolId: this.config.userPoolId,
          Username: email,
          TemporaryPassword: temporaryPassword,
          // The owner chose the password and hands it over; otherwise Cognito sends the invitation.
          MessageAction: temporaryPassword ? 'SUPPRESS' : undefined,
          UserAttributes: [
            { Name: 'email', Value: email },
            { Name: 'email_verified', Value: 'true' },
          ],
        }),
        o,
      ),
    );
    return subOf(out.User?.Attributes) ?? out.User!.Username!;
  }

  async adminSetPassword(email: string, password: string): Promise<void> {
    await this.call((o) =>
      this.client.send(
        new AdminSetUserPasswordCommand({
          UserPoolId: this.config.userPoolId,
          Username: email,
          Password: password,
          Permanent: true,
        }),
        o,
      ),
    );
  }

  /** The user's id (`sub`), or null when the pool has no such user. */
  async findUserId(email: string): Promise<string | null> {
    try {
      const out = await this.call((o) =>
        this.client.send(
          new AdminGetUserCommand({ UserPoolId: this.config.userPoolId, Username: email }),
          o,
        ),
      );
      return subOf(out.UserAttributes) ?? out.Username ?? null;
    } catch (error) {
      if (error instanceof AppError && error.code === 'AUTH.INVALID_CREDENTIALS') return null;
      throw error;
    }
  }

  async adminDeleteUser(email: string): Promise<void> {
    await this.call((o) =>
      this.client.send(
        new AdminDeleteUserCommand({ UserPoolId: this.config.userPoolId, Username: email }),
        o,
      ),
    );
  }

  private secretHash(username: string): string | undefined {
    if (!this.config.clientSecret) return undefined;
    return createHmac('sha256', this.config.clientSecret)
      .update(username + this.config.clientId)
      .digest('base64');
  }

  private secretParam(username: string): { SECRET_HASH?: string } {
    const hash = this.secretHash(username);
    return hash ? { SECRET_HASH: hash } : {};
  }

  private tokens(result: AuthenticationResultType | undefined): CognitoTokens {
    if (!result?.AccessToken || !result.IdToken) {
      throw authError(
        'AUTH.IDENTITY_PROVIDER_UNAVAILABLE',
        'The identity provider answered without tokens',
      );
    }
    return {
      accessToken: result.AccessToken,
      idToken: result.IdToken,
      refreshToken: result.RefreshToken,
      expiresIn: result.ExpiresIn ?? 3600,
      tokenType: result.TokenType ?? 'Bearer',
    };
  }

  private async call<T>(send: (options: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> {
    try {
      return await send({ abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    } catch (error) {
      throw this.mapError(error);
    }
  }

  private mapError(error: unknown): AppError {
    const name = error instanceof Error ? error.name : '';
    const known = KNOWN[name];
    if (known) return known();
    this.logger.warn({ err: error }, 'Cognito call failed');
    return authError(
      'AUTH.IDENTITY_PROVIDER_UNAVAILABLE',
      'The identity provider is unavailable; try again shortly',
    );
  }
}

function subOf(attributes: { Name?: string; Value?: string }[] | undefined): string | undefined {
  return attributes?.find((attribute) => attribute.Name === 'sub')?.Value;
}
