import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { TenantSpanProcessor } from './tenant-span-processor';
import { contextOf, TENANT_ATTRIBUTE, traceparentOf } from './trace-context';

describe('TenantSpanProcessor', () => {
  let tenant: string | undefined;
  let exporter: InMemorySpanExporter;
  let provider: TracerProvider;
  const tracer = () => provider.getTracer('spec');
  const exported = () =>
    Object.fromEntries(
      exporter.getFinishedSpans().map((span) => [span.name, span.attributes[TENANT_ATTRIBUTE]]),
    );

  beforeEach(() => {
    tenant = undefined;
    exporter = new InMemorySpanExporter();
    provider = new TracerProvider({
      spanProcessors: [
        new TenantSpanProcessor(new SimpleSpanProcessor({ exporter }), () => tenant),
      ],
    });
  });
  afterEach(() => provider.shutdown());

  it('puts the tenant of the context on a span when it starts', () => {
    tenant = 't-1';
    tracer().startSpan('work').end();
    expect(exported()).toEqual({ work: 't-1' });
  });

  it('keeps a tenant the span was started with over the context', () => {
    tenant = 't-context';
    tracer()
      .startSpan('row', { attributes: { [TENANT_ATTRIBUTE]: 't-row' } })
      .end();
    expect(exported()).toEqual({ row: 't-row' });
  });

  it('gives spans that ended before authentication the tenant their trace learnt, once the request ends', () => {
    const root = tracer().startSpan('POST /x');
    const inRoot = trace.setSpan(ROOT_CONTEXT, root);
    // The session lookup ends before anyone knows the tenant: held, not exported yet.
    tracer().startSpan('session lookup', {}, inRoot).end();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    tenant = 't-2';
    tracer().startSpan('handler', {}, inRoot).end();
    tenant = undefined;
    root.end();
    expect(exported()).toEqual({ 'session lookup': 't-2', handler: 't-2', 'POST /x': 't-2' });
  });

  it('exports a trace that never learns a tenant without one, at its root', () => {
    const root = tracer().startSpan('GET /health');
    tracer().startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, root)).end();
    root.end();
    expect(exported()).toEqual({ child: undefined, 'GET /health': undefined });
  });

  it('a trace continued from a traceparent keeps its tenant after that local root ends', () => {
    const root = tracer().startSpan('POST /events');
    const inRoot = trace.setSpan(ROOT_CONTEXT, root);
    tenant = 't-3';
    const handler = tracer().startSpan('handler', {}, inRoot);
    tenant = undefined;
    // A span continuing the handler's stored traceparent (a remote parent: a local root) ends first.
    tracer()
      .startSpan('fanout', {}, contextOf(traceparentOf(handler)))
      .end();
    handler.end();
    root.end();
    expect(exported()).toEqual({ fanout: 't-3', handler: 't-3', 'POST /events': 't-3' });
  });
});
