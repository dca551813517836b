import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  contextOf,
  currentTraceparent,
  inSpan,
  linksTo,
  spanContextOf,
  startSpan,
  traceIdOf,
} from './trace-context';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('trace context helpers', () => {
  it('reads a W3C traceparent as a remote span context, and its trace id', () => {
    expect(spanContextOf(`00-${TRACE}-${SPAN}-01`)).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      traceFlags: 1,
      isRemote: true,
    });
    expect(spanContextOf(`00-${TRACE}-${SPAN}-00`)?.traceFlags).toBe(0);
    expect(traceIdOf(`00-${TRACE}-${SPAN}-01`)).toBe(TRACE);
    expect(linksTo(`00-${TRACE}-${SPAN}-01`)).toEqual([
      { context: expect.objectContaining({ traceId: TRACE, spanId: SPAN }) },
    ]);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['another version', `01-${TRACE}-${SPAN}-01`],
    ['upper case', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['a short span id', `00-${TRACE}-${SPAN.slice(1)}-01`],
    ['trailing data', `00-${TRACE}-${SPAN}-01-extra`],
  ])('takes a %s traceparent for none (a new trace, no link)', (_label, value) => {
    expect(spanContextOf(value)).toBeUndefined();
    expect(contextOf(value)).toBe(ROOT_CONTEXT);
    expect(linksTo(value)).toEqual([]);
  });

  it('does nothing while the SDK is not started: no span, no traceparent, the work still runs', async () => {
    const parent = contextOf(`00-${TRACE}-${SPAN}-01`);
    expect(trace.getSpanContext(parent)?.traceId).toBe(TRACE);
    expect(startSpan('x', { parent })).toBeUndefined();
    expect(currentTraceparent(parent)).toBeUndefined();
    await expect(inSpan('x', { parent }, (span) => Promise.resolve(span))).resolves.toBeUndefined();
  });
});
