export { AuthModule } from './auth.module';
export { AccessTokenVerifier, type AccessClaims } from './access-token.verifier';
export { CognitoClient, type CognitoTokens } from './cognito.client';
export { MembershipsService } from './memberships.service';
export { SessionAuthenticator } from './session.authenticator';
export { SessionStore, type SessionProfile } from './session.store';
export {
  SESSION_CREATED,
  SESSION_REVOKED,
  type SessionEndReason,
  SessionCreatedEvent,
  SessionRevokedEvent,
  USER_ADDED,
  USER_REMOVED,
  USER_ROLE_CHANGED,
  UserAddedEvent,
  UserRemovedEvent,
  UserRoleChangedEvent,
} from './auth.events';
