export {
  SESSION_CREATED,
  SESSION_REVOKED,
  SessionCreatedEvent,
  SessionRevokedEvent,
  USER_ADDED,
  USER_REMOVED,
  USER_ROLE_CHANGED,
  UserAddedEvent,
  UserRemovedEvent,
  UserRoleChangedEvent,
} from './auth.events';
export { AuthModule } from './auth.module';
export { CognitoClient } from './cognito.client';
export { MembershipsService } from './memberships.service';
export { SessionStore } from './session.store';
