export {
  type Access,
  Allow,
  Authenticated,
  IS_PUBLIC,
  MembersOnly,
  PlatformAdminOnly,
  Public,
  REQUIRED_ACCESS,
} from './auth.decorators';
export { AuthGuard } from './auth.guard';
export { type Credentials, headerValue, RequestAuthenticator } from './request-authenticator';
export { type Revocation, RevocationChannel, type RevocationListener } from './revocation-channel';
