import type { WebSocket } from 'ws';
import type { Principal } from './tenant-context.types';

const principals = new WeakMap<WebSocket, Principal>();

/** The principal checked at the WebSocket upgrade, kept for the life of the socket. */
export function setSocketPrincipal(socket: WebSocket, principal: Principal): void {
  principals.set(socket, principal);
}

export function getSocketPrincipal(socket: WebSocket): Principal | undefined {
  return principals.get(socket);
}
