import { counter, gauge } from '../../shared/metrics';

// Closes and held frames are a tenant's sockets (tenant_id, bounded by tenantLabel); a refused
// upgrade has no tenant yet.

export const wsClosed = counter({
  name: 'tessera_ws_closed_total',
  help: 'WebSocket connections closed by the server, by reason (slow_reader, revoked, expired, shutdown …)',
  labelNames: ['reason', 'tenant_id'] as const,
});
export const wsRefused = counter({
  name: 'tessera_ws_refused_total',
  help: 'WebSocket upgrades refused, by HTTP status',
  labelNames: ['status'] as const,
});
export const wsHeldBeforeHello = counter({
  name: 'tessera_ws_held_before_hello_total',
  help: 'WebSocket frames (answers, errors, pushes) held until the socket got its hello',
  labelNames: ['tenant_id'] as const,
});
/** Sockets open on this process (every app instance in it). */
export const socketSources = new Set<{ socketCount(): number }>();
gauge({
  name: 'tessera_ws_sockets',
  help: 'WebSocket connections open on this instance',
  collect() {
    let total = 0;
    for (const source of socketSources) total += source.socketCount();
    this.set(total);
  },
});
