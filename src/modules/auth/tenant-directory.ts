/** What auth needs to know about a tenant. */
export interface TenantFacts {
  id: string;
  active: boolean;
  allowSelfSignup: boolean;
}

/** Port to the tenancy module's registry (bound in AuthModule). */
export abstract class TenantDirectory {
  abstract find(tenantId: string): Promise<TenantFacts | null>;
}

/** Port to the tenancy module's API keys (bound in AuthModule). */
export abstract class ApiKeyResolver {
  abstract resolve(rawKey: string): Promise<{ tenantId: string; keyId: string } | null>;
}
