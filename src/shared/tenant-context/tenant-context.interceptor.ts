import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { Observable } from 'rxjs';
import type { WebSocket } from 'ws';
import { TenantContext } from './tenant-context';
import { getSocketPrincipal } from './socket-principal';

/**
 * Opens the tenant context for work that Nest's HTTP middleware does not reach: WebSocket
 * messages take the principal checked once at connect, and a request id per message
 * (the client's `request_id` when it sends one).
 */
@Injectable()
export class TenantContextInterceptor implements NestInterceptor {
  constructor(private readonly context: TenantContext) {}

  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (execution.getType() !== 'ws') return next.handle();
    const ws = execution.switchToWs();
    const client = ws.getClient<WebSocket>();
    const data: unknown = ws.getData();
    const requestId =
      data &&
      typeof data === 'object' &&
      'request_id' in data &&
      typeof data.request_id === 'string'
        ? data.request_id.slice(0, 128)
        : undefined;
    return new Observable((subscriber) => {
      void this.context.run(
        { transport: 'ws', requestId, principal: getSocketPrincipal(client) },
        () => {
          const subscription = next.handle().subscribe(subscriber);
          return Promise.resolve(subscription);
        },
      );
    });
  }
}
