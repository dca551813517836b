export const LOCATION_SESSION_STARTED = 'location.session.started';
export const LOCATION_SESSION_ENDED = 'location.session.ended';
export const LOCATION_UPDATE_DELIVERED = 'location.update.delivered';
export const LOCATION_UPDATE_DEAD_LETTERED = 'location.update.dead_lettered';
export const LOCATION_UPDATE_RESOLVED = 'location.update.resolved';
export const LOCATION_UPDATE_PERMANENTLY_FAILED = 'location.update.permanently_failed';

/** A tracking session started (committed). */
export class LocationSessionStartedEvent {
  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    readonly userId: string,
    readonly expiresAt: Date,
  ) {}
}

/** A tracking session ended: stopped by its user (`ended`), or by the expiry job (`expired`). */
export class LocationSessionEndedEvent {
  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    readonly userId: string,
    readonly status: 'ended' | 'expired' | 'cancelled',
  ) {}
}

/** An update reached the tenant's third party (high volume: one per update). */
export class LocationDeliveredEvent {
  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    readonly eventId: string,
    readonly latencyMs: number,
  ) {}
}

/** A failed delivery was recorded in the retry ledger. */
export class LocationDeadLetteredEvent {
  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    readonly eventId: string,
    readonly error: string,
  ) {}
}

/** A ledger row was redelivered successfully. */
export class LocationResolvedEvent {
  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    readonly eventId: string,
    readonly attempts: number,
  ) {}
}

/** A ledger row will not be retried again. */
export class LocationPermanentlyFailedEvent {
  constructor(
    readonly tenantId: string,
    readonly sessionId: string,
    readonly eventId: string,
    readonly reason: string,
  ) {}
}
