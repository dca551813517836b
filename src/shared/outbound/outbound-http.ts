import { createHmac } from 'node:crypto';
import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Agent, errors as undiciErrors, request } from 'undici';
import { inSpan, markError, SpanKind, tracingEnabled } from '../telemetry';
import { locationConfig, type LocationConfig } from '../../config';
import { HostAllowList, isPublicAddress } from './address-policy';
import { outboundError } from './outbound.errors';

export interface DeliveryRequest {
  url: string;
  body: string;
  idempotencyKey: string;
  signingSecret?: string | null;
  timeoutMs: number;
  /**
   * The operator chose this URL (its own configuration, not a tenant's input): neither the
   * https rule nor the public-address rule applies, as for `LOCATION_DELIVERY_ALLOWED_HOSTS`.
   */
  operatorTarget?: boolean;
}

export interface DeliveryResult {
  ok: boolean;
  status?: number;
  /** 408, 429, 5xx, timeouts and network errors; false for other 4xx and refused targets. */
  retryable: boolean;
  error?: string;
  latencyMs: number;
}

export const SIGNATURE_HEADER = 'x-tessera-signature';

/** `hex(HMAC-SHA256(secret, "<t>.<body>"))`, the `v1` of `X-Tessera-Signature: t=<t>,v1=<hex>`. */
export function signBody(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor() {
    super('The operation was aborted due to timeout');
  }
}

class BlockedAddressError extends Error {
  readonly code = 'EADDRBLOCKED';
}

/** A `net.connect` lookup that refuses to connect to any non-public address (DNS rebinding). */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    const list = addresses;
    const blocked = list.find((entry) => !isPublicAddress(entry.address));
    if (blocked || list.length === 0) {
      return callback(
        new BlockedAddressError(`${hostname} resolves to a non-public address`),
        '',
        0,
      );
    }
    if (options.all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
    callback(null, list[0].address, list[0].family);
  });
};

/**
 * Outbound HTTP to URLs that tenants choose (webhooks, location delivery): https to public
 * addresses only, checked when the URL is set and again at connect time; no redirects; a
 * timeout; `Idempotency-Key`; an HMAC signature when a secret is given. The operator's
 * `LOCATION_DELIVERY_ALLOWED_HOSTS` lifts both rules for the hosts it names, and a request
 * marked `operatorTarget` (the operator's own endpoint) is trusted as well.
 */
@Injectable()
export class OutboundHttp implements OnApplicationShutdown {
  private readonly allowList: HostAllowList;
  private readonly strictAgent = new Agent({
    connect: { lookup: publicOnlyLookup, timeout: 5_000 },
    connections: 128,
    pipelining: 1,
  });
  private readonly trustedAgent = new Agent({ connect: { timeout: 5_000 }, connections: 128 });

  constructor(@Inject(locationConfig.KEY) config: LocationConfig) {
    this.allowList = new HostAllowList(config.deliveryAllowedHosts);
  }

  /**
   * In `onApplicationShutdown`, never earlier: the consumers that deliver through these agents
   * stop in `beforeApplicationShutdown`, so no delivery is cut off and dead-lettered by a deploy.
   */
  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.strictAgent.close(), this.trustedAgent.close()]);
  }

  /** Throws a 400 naming `field` unless the URL may be called (resolves its name now). */
  async assertAllowedUrl(url: string, field = 'endpoint_url'): Promise<URL> {
    const refuse = (reason: string) =>
      outboundError('OUTBOUND.URL_NOT_ALLOWED', `${field}: ${reason}`, [
        { field, message: reason },
      ]);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw refuse('expected an absolute URL');
    }
    if (parsed.username || parsed.password) throw refuse('credentials in the URL are not allowed');
    const trusted = this.allowList.allows(parsed);
    if (parsed.protocol !== 'https:' && !(trusted && parsed.protocol === 'http:')) {
      throw refuse('expected an https:// URL');
    }
    if (trusted) return parsed;
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    let addresses: string[];
    if (isIP(host)) addresses = [host];
    else {
      try {
        addresses = (await dns.promises.lookup(host, { all: true })).map((a) => a.address);
      } catch {
        throw refuse(`the host ${host} does not resolve`);
      }
    }
    if (addresses.length === 0 || !addresses.every(isPublicAddress)) {
      throw refuse(`the host ${host} resolves to a non-public address`);
    }
    return parsed;
  }

  /**
   * One POST; never throws, never follows a redirect. Tracing on: an `outbound.deliver` span,
   * and the request (undici's span under it) sends the trace's `traceparent` to the target.
   */
  deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    if (!tracingEnabled()) return this.post(req);
    return inSpan('outbound.deliver', { kind: SpanKind.INTERNAL }, async (span) => {
      const result = await this.post(req);
      if (result.status !== undefined)
        span?.setAttribute('http.response.status_code', result.status);
      span?.setAttribute(
        'tessera.delivery.outcome',
        result.ok ? 'ok' : result.retryable ? 'retryable' : 'failed',
      );
      if (!result.ok) markError(span, { name: result.retryable ? 'RetryableFailure' : 'Failure' });
      return result;
    });
  }

  private async post(req: DeliveryRequest): Promise<DeliveryResult> {
    const started = performance.now();
    const done = (result: Omit<DeliveryResult, 'latencyMs'>): DeliveryResult => ({
      ...result,
      latencyMs: performance.now() - started,
    });
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return done({ ok: false, retryable: false, error: 'invalid URL' });
    }
    const trusted = req.operatorTarget === true || this.allowList.allows(url);
    if (!trusted) {
      const literal = url.hostname.replace(/^\[|\]$/g, '');
      if (url.protocol !== 'https:') {
        return done({ ok: false, retryable: false, error: 'only https:// targets are allowed' });
      }
      if (isIP(literal) && !isPublicAddress(literal)) {
        return done({ ok: false, retryable: false, error: `${literal} is not a public address` });
      }
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'idempotency-key': req.idempotencyKey,
      'user-agent': 'tessera-outbound/1',
    };
    if (req.signingSecret) {
      const t = Math.floor(Date.now() / 1000);
      headers[SIGNATURE_HEADER] = `t=${t},v1=${signBody(req.signingSecret, t, req.body)}`;
    }
    // The whole request's deadline, cleared once it settled: `AbortSignal.timeout` would keep a
    // timer (and its signal) alive for `timeoutMs` after every request and then build a
    // DOMException for each one — at thousands of deliveries a second, a heap full of them.
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(new TimeoutError()), req.timeoutMs);
    try {
      const response = await request(url, {
        method: 'POST',
        body: req.body,
        headers,
        dispatcher: trusted ? this.trustedAgent : this.strictAgent,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
        signal: abort.signal,
      });
      await response.body.dump().catch(() => undefined);
      const status = response.statusCode;
      if (status >= 200 && status < 300) return done({ ok: true, status, retryable: false });
      const retryable = status === 408 || status === 429 || status >= 500;
      const error =
        status >= 300 && status < 400 ? `redirect ${status} not followed` : `HTTP ${status}`;
      return done({ ok: false, status, retryable, error });
    } catch (error) {
      const blocked =
        error instanceof BlockedAddressError ||
        (error as { cause?: unknown }).cause instanceof BlockedAddressError;
      if (blocked) return done({ ok: false, retryable: false, error: (error as Error).message });
      const timeout =
        error instanceof undiciErrors.HeadersTimeoutError ||
        error instanceof undiciErrors.BodyTimeoutError ||
        error instanceof undiciErrors.ConnectTimeoutError ||
        (error as Error).name === 'TimeoutError' ||
        (error as Error).name === 'AbortError';
      const message = (error as Error).message || String(error);
      return done({ ok: false, retryable: true, error: timeout ? `timeout: ${message}` : message });
    } finally {
      clearTimeout(deadline);
    }
  }
}
