import fc from 'fast-check';
import { NO_TENANT, OTHER_TENANT, TenantSeries } from './tenant-series';

describe('TenantSeries', () => {
  it('gives the first N tenants their own value and counts later ones under other', () => {
    const series = new TenantSeries(2);
    expect(series.label('a')).toBe('a');
    expect(series.label('b')).toBe('b');
    expect(series.label('c')).toBe(OTHER_TENANT);
    // A tenant keeps its value; one past the cap stays under other.
    expect(series.label('a')).toBe('a');
    expect(series.label('c')).toBe(OTHER_TENANT);
    expect(series.size).toBe(2);
  });

  it('labels work without a tenant none, without using a place', () => {
    const series = new TenantSeries(1);
    expect(series.label(undefined)).toBe(NO_TENANT);
    expect(series.label(null)).toBe(NO_TENANT);
    expect(series.label('')).toBe(NO_TENANT);
    expect(series.label('a')).toBe('a');
  });

  it('keeps the tenants already labelled when the cap is lowered', () => {
    const series = new TenantSeries(3);
    for (const t of ['a', 'b', 'c']) series.label(t);
    series.setMax(1);
    expect(['a', 'b', 'c', 'd'].map((t) => series.label(t))).toEqual(['a', 'b', 'c', OTHER_TENANT]);
  });

  it('never makes more than max + 2 distinct values, whatever the sequence of tenants', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.option(fc.stringMatching(/^[a-f]{1,3}$/), { nil: undefined }), {
          maxLength: 300,
        }),
        (max, tenants) => {
          const series = new TenantSeries(max);
          const values = tenants.map((t) => series.label(t));
          const own = new Set(values.filter((v) => v !== OTHER_TENANT && v !== NO_TENANT));
          expect(own.size).toBeLessThanOrEqual(max);
          // The first `max` distinct tenants in order are exactly the ones labelled.
          const firstSeen = [...new Set(tenants.filter((t): t is string => !!t))].slice(0, max);
          expect([...own].sort()).toEqual(firstSeen.filter((t) => values.includes(t)).sort());
          tenants.forEach((t, i) => {
            if (t && firstSeen.includes(t)) expect(values[i]).toBe(t);
            else if (t) expect(values[i]).toBe(OTHER_TENANT);
          });
        },
      ),
      { seed: 1818, numRuns: 200 },
    );
  });
});
