import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { ErrorCode } from '../kernel/errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { Bucket, addressResolver } from './budget.ts';
import type { WsOptions } from './ws.ts';

export type StaticFiles = Map<string, { type: string; body: Buffer | string }>;

/** What every answer of either listener carries: no content sniffing, no framing, no referrer beyond this site. */
export const SAFE_HEADERS = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'same-origin' } as const;

/**
 * Answer an error on the socket itself, where no route runs (a request Node cannot parse, a WebSocket
 * refused before it opens), and close it: molt's error shape and the headers every answer has.
 */
export function endWithError(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const headers = Object.entries(SAFE_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.on('error', () => {});
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`);
}

/**
 * Fastify's options for requests it cannot read, in molt's error shape with the usual headers: a URL
 * it cannot decode (`frameworkErrors`), and what Node's parser refuses before fastify sees a request
 * (`clientErrorHandler`: a broken header, a garbage request line; headers over Node's limit get 431).
 */
export function unreadable() {
  return {
    frameworkErrors: (err: Error, _req: FastifyRequest, reply: FastifyReply) => {
      void reply.code(400).headers(SAFE_HEADERS).send({ error: { code: 'E_BAD_REQUEST', message: `the request cannot be read: ${err.message.slice(0, 200)}` } });
    },
    clientErrorHandler: (err: Error & { code?: string }, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.on('error', () => {});
        return void socket.destroy();
      }
      const big = err.code === 'HPE_HEADER_OVERFLOW';
      endWithError(socket, big ? 431 : 400, 'E_BAD_REQUEST', big ? 'the request headers are too large' : 'the request cannot be read: it is not well-formed HTTP/1.1');
    },
    // While the listener closes, fastify would answer every request with its own 503 body
    // ({error: "Service Unavailable", statusCode}): /readyz's `{ok: false, reason: "stopping"}` and
    // molt's error shape are what PROTOCOL.md promises until the listener is gone.
    return503OnClosing: false,
    // Node answers an HTTP/1.1 request without Host itself: a bare 400 with an empty body, none of
    // molt's headers. Let it through to `hostRequired`, which refuses it in molt's shape.
    http: { requireHostHeader: false },
  };
}

/** Every answer, on either listener: no content sniffing, no framing, no referrer beyond this site. */
export function safeHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(SAFE_HEADERS);
    return payload;
  });
}

/**
 * An HTTP/1.1 request must name its Host (RFC 9112 3.2): one that does not is a request that cannot be
 * read, 400 E_BAD_REQUEST in molt's shape and with the usual headers (`unreadable()` takes Node's own
 * check away). The first hook of a listener, so on the operator API it comes before the token is read.
 */
export function hostRequired(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined)
      await reply.code(400).send({ error: { code: 'E_BAD_REQUEST', message: 'the request cannot be read: an HTTP/1.1 request needs a Host header' } });
  });
}

/**
 * The page's Content-Security-Policy: its own scripts (the app and each release's view module, by URL,
 * never inline or eval), its own stylesheet plus the one style element the app fills with the running
 * view's CSS (allowed by a nonce fresh on every page load), style attributes (the avatars' hue), the
 * favicon as a data: URL, a WebSocket and fetches to this server only, and no framing by anyone.
 */
export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src-elem 'self' 'nonce-${nonce}'`,
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The running state of the process, as /readyz reads it. */
export interface Readiness {
  stopping: boolean;
}

/**
 * The public HTTP side: the browser client, each release's view module, health and metrics. The
 * WebSocket at /ws is attached to the same server by src/server.ts.
 */
export function createPublicHttp(
  kernel: Kernel,
  files: StaticFiles,
  metrics: Registry,
  log: FastifyBaseLogger | undefined,
  readiness: Readiness,
  limits: Pick<WsOptions, 'metricsPerSec' | 'metricsBurst' | 'trustProxy'>,
): FastifyInstance {
  const app: FastifyInstance = log ? Fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }), ...unreadable() }) : Fastify({ logger: false, ...unreadable() });

  hostRequired(app);
  safeHeaders(app);
  answerErrorsAsErrors(app);

  for (const [url, file] of files) {
    if (file.type.startsWith('text/html')) {
      const html = String(file.body);
      app.get(url, async (_req, reply) => {
        const nonce = randomBytes(16).toString('base64');
        return reply
          .type(file.type)
          .header('cache-control', 'no-cache')
          .header('content-security-policy', contentSecurityPolicy(nonce))
          .send(html.replace('<style id="view-css">', `<style id="view-css" nonce="${nonce}">`));
      });
    } else app.get(url, async (_req, reply) => reply.type(file.type).header('cache-control', 'no-cache').send(file.body));
  }

  // A release's browser view, by hash: immutable, so cache it for good.
  app.get<{ Params: { hash: string } }>('/views/:hash', async (req, reply) => {
    const hash = req.params.hash.replace(/\.js$/, '');
    const view = /^[0-9a-f]{64}$/.test(hash) ? kernel.view(hash) : null;
    if (view === null) return reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: 'no installed release has that view' } });
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=31536000, immutable').send(view);
  });

  // Cheap on purpose: no census (that walks the state); status on the operator API has it.
  app.get('/health', async () => ({
    ok: true,
    version: kernel.version,
    release: kernel.release,
    boot: kernel.boot,
    uptimeMs: Math.round(process.uptime() * 1000),
    upgrading: kernel.upgrading,
    connections: kernel.connections,
  }));

  // Liveness: the process answers. Readiness: it should be sent new clients now (not while an upgrade
  // cuts over and commands wait, not while it stops).
  app.get('/livez', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const reason = readiness.stopping ? 'stopping' : kernel.cuttingOver ? 'upgrading' : null;
    return reply.code(reason ? 503 : 200).send(reason ? { ok: false, reason } : { ok: true });
  });

  // A scrape costs milliseconds of the thread that serves the feed (5 ms here, against 1.3 for /health):
  // one client asking 180 times a second took the others' p99 from 10 to 360 ms. So each address has
  // a budget of them, as a WebSocket has for commands (a Prometheus scrapes every few seconds).
  const addressOf = addressResolver(limits.trustProxy);
  const scrapes = new Map<string, Bucket>();
  app.get('/metrics', async (req, reply) => {
    const now = performance.now();
    if (scrapes.size > 10_000) for (const [ip, bucket] of scrapes) if (bucket.full(now)) scrapes.delete(ip);
    const ip = addressOf(req.raw);
    let bucket = scrapes.get(ip);
    if (bucket === undefined) scrapes.set(ip, (bucket = new Bucket(limits.metricsPerSec, limits.metricsBurst, now)));
    const retryMs = bucket.wait(now);
    if (retryMs > 0) {
      const message = `more than ${limits.metricsBurst} scrapes at once or ${limits.metricsPerSec} a second from your address; try again after retryMs`;
      return reply.code(429).header('retry-after', String(Math.ceil(retryMs / 1000))).send({ error: { code: 'E_RATE_LIMITED', message, retryMs } });
    }
    bucket.take(now);
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });

  return app;
}

/**
 * Errors in the shape of every other error molt answers, `{error: {code, message}}`: an unknown path or
 * method is 404 E_NOT_FOUND, a request fastify cannot read is 400 E_BAD_REQUEST (not fastify's own
 * `{statusCode, error, message}`).
 */
export function answerErrorsAsErrors(app: FastifyInstance): void {
  app.setNotFoundHandler(notFound());
  app.setErrorHandler(async (err, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply.code(status).send({ error: { code: status < 500 ? 'E_BAD_REQUEST' : 'E_INTERNAL', message: status < 500 ? (err as Error).message : 'an unexpected error in the server itself' } });
  });
}

/** The 404 of a listener, in molt's error shape; `hint` says what the listener does have. */
export function notFound(hint = '') {
  return async (req: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send({ error: { code: 'E_NOT_FOUND', message: `no ${req.method} ${req.url.split('?')[0]!.slice(0, 100)} here${hint}` } });
}
