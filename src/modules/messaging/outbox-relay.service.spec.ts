import { Logger } from '@nestjs/common';
import type { MessagingConfig } from '../../config';
import { AppError } from '../../shared/errors';
import type { RabbitMqService } from '../../shared/rabbitmq';
import type { ConsumerRegistry } from './consumer-registry.service';
import type { MessagesRepository } from './messages.repository';
import { OutboxRelay } from './outbox-relay.service';
import type { OutboxService } from './outbox.service';

describe('OutboxRelay: what a failed tenant leaves in the log', () => {
  const relay = new OutboxRelay(
    {} as MessagingConfig,
    {} as RabbitMqService,
    {} as ConsumerRegistry,
    {} as OutboxService,
    {} as MessagesRepository,
  );
  const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  afterAll(() => warn.mockRestore());

  it("logs a tenant's own known fault once (no stack), every other failure each time", () => {
    const gone = new AppError('TENANCY.TENANT_NOT_FOUND', 404, 'Tenant t1 not found');
    for (let sweep = 0; sweep < 5; sweep++) relay['relayFailed']('t1', gone);
    relay['relayFailed']('t2', gone);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[0][0]).toEqual({ code: 'TENANCY.TENANT_NOT_FOUND', tenant_id: 't1' });

    warn.mockClear();
    const down = new AppError('TENANCY.DATABASE_UNAVAILABLE', 503, 'down');
    const broken = new Error('connection reset');
    for (let sweep = 0; sweep < 3; sweep++) {
      relay['relayFailed']('t1', down);
      relay['relayFailed']('t1', broken);
    }
    expect(warn).toHaveBeenCalledTimes(6);
    expect(warn.mock.calls[1][0]).toEqual({ err: broken });
  });
});
