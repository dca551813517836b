import type { DataSource } from 'typeorm';
import type { LocationConfig } from '../../../config';
import type { OutboundHttp } from '../../../shared/outbound';
import type { TenantAuditTrail } from '../../tenancy';
import { DeliverySettingsService } from './delivery-settings.service';

/**
 * The target cache in front of the settings table. The table itself is exercised against
 * PostgreSQL by the location e2e suites; here only how many reads the cache lets through.
 */
describe('DeliverySettingsService.target', () => {
  const tenantId = '7b0c3a0e-4c1e-4a57-9a55-0e2f3d0d4b11';

  function service() {
    let reads = 0;
    const pending: Array<(rows: unknown[]) => void> = [];
    const db = {
      query: () => {
        reads++;
        return new Promise<unknown[]>((resolve) => pending.push(resolve));
      },
    } as unknown as DataSource;
    const settings = new DeliverySettingsService(
      db,
      {} as OutboundHttp,
      {
        thirdPartyEndpoint: null,
        thirdPartySigningSecret: null,
      } as unknown as LocationConfig,
      {} as TenantAuditTrail,
    );
    const answer = (rows: unknown[]) => pending.splice(0).forEach((resolve) => resolve(rows));
    return { settings, reads: () => reads, answer };
  }

  it('lets the deliveries in flight for a tenant share one read of an expired entry', async () => {
    const { settings, reads, answer } = service();
    const waiting = Array.from({ length: 64 }, () => settings.target(tenantId));
    answer([{ endpoint_url: 'https://hooks.example.com/a', enabled: true, signing_secret: 's' }]);
    const targets = await Promise.all(waiting);
    expect(reads()).toBe(1);
    expect(new Set(targets.map((target) => target?.url))).toEqual(
      new Set(['https://hooks.example.com/a']),
    );
    // Served from the cache afterwards.
    await settings.target(tenantId);
    expect(reads()).toBe(1);
  });
});
