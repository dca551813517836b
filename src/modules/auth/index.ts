export { AuthModule } from './auth.module';
export { AccessTokenVerifier, type AccessClaims } from './access-token.verifier';
export { CognitoGateway, type CognitoTokens } from './cognito.gateway';
export { MembershipsService } from './memberships.service';
export { SessionAuthenticator } from './session.authenticator';
export { SessionStore, type SessionProfile } from './session.store';
