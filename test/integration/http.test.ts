/** The public HTTP side: who may open /ws, the page's security headers, health, liveness, readiness. */
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../src/server.ts';
import { TestClient } from '../support/client.ts';

/** Open /ws with these headers: the HTTP status of the handshake (101 when it opened). */
function handshake(url: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '', headers: {} });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    ws.once('error', reject);
  });
}

describe('the Origin allowlist', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: 'http-test-token-0123456789', logLevel: 'silent' });
  });
  afterAll(async () => server.close());

  it('lets in a page from the server itself and a client that sends no Origin', async () => {
    const own = new URL(server.url).origin;
    expect((await handshake(server.wsUrl, { Origin: own })).status).toBe(101);
    expect((await handshake(server.wsUrl, {})).status).toBe(101);
  });

  it('refuses any other origin, and "null", with 403 and E_ORIGIN before the WebSocket opens', async () => {
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${Number(new URL(server.url).port) + 1}`]) {
      const r = await handshake(server.wsUrl, { Origin: origin });
      expect(r.status).toBe(403);
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'E_ORIGIN', message: expect.stringContaining(origin) } });
      expect(r.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'same-origin' });
    }
    expect(server.kernel.connections).toBe(0);
  });

  it('lets in the origins it is given', async () => {
    const other = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: 'http-test-token-0123456789', logLevel: 'silent', ws: { origins: ['https://molt.example'] } });
    try {
      expect((await handshake(other.wsUrl, { Origin: 'https://molt.example' })).status).toBe(101);
      expect((await handshake(other.wsUrl, { Origin: new URL(other.url).origin })).status).toBe(403); // 'self' was not listed
    } finally {
      await other.close();
    }
  });

  it('serves the page with a Content-Security-Policy, nosniff and no framing', async () => {
    const res = await fetch(`${server.url}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    // the one style element the app fills carries the nonce the policy names, new on every load
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(await res.text()).toContain(`<style id="view-css" nonce="${nonce}">`);
    const again = (await fetch(`${server.url}/`)).headers.get('content-security-policy');
    expect(again).not.toContain(nonce);
    expect((await fetch(`${server.url}/app.js`)).headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers an unknown path or method with 404 E_NOT_FOUND in the shape of every error, with the same headers', async () => {
    for (const [method, path] of [['GET', '/no/such/page'], ['POST', '/health'], ['DELETE', '/']]) {
      const res = await fetch(`${server.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toEqual({ error: { code: 'E_NOT_FOUND', message: `no ${method} ${path} here` } });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const op = await fetch(`${server.operatorUrl}/upgrades`, { method: 'POST', headers: { authorization: 'Bearer http-test-token-0123456789' } });
    expect(op.status).toBe(404);
    expect(await op.json()).toMatchObject({ error: { code: 'E_NOT_FOUND', message: expect.stringContaining('the operator API has GET /status') } });
    expect((await fetch(`${server.operatorUrl}/upgrades`, { method: 'POST' })).status).toBe(401); // the token first
  });

  it('answers a request it cannot read with 400 E_BAD_REQUEST in the shape of every error, with the same headers, on both listeners', async () => {
    /** Send `request` as it is on a socket of its own: the status, the headers (lower case) and the body. */
    const raw = async (url: string, request: string) => {
      const { hostname, port } = new URL(url);
      const socket = connect(Number(port), hostname);
      await once(socket, 'connect');
      socket.end(request);
      let text = '';
      for await (const chunk of socket) text += String(chunk);
      const [head, body] = [text.slice(0, text.indexOf('\r\n\r\n')), text.slice(text.indexOf('\r\n\r\n') + 4)];
      const lines = head.split('\r\n');
      const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      return { status: Number(lines[0]!.split(' ')[1]), headers, body: JSON.parse(body) as unknown };
    };
    const requests = [
      'GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', // a URL that cannot be decoded
      'GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', // a broken header
      'BLAH\r\n\r\n', // not HTTP at all
    ];
    for (const url of [server.url, server.operatorUrl])
      for (const request of requests) {
        const r = await raw(url, request);
        expect(r.status, request).toBe(400);
        expect(r.body, request).toEqual({ error: { code: 'E_BAD_REQUEST', message: expect.stringMatching(/^the request cannot be read/) } });
        expect(r.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'same-origin' });
      }
    // a WebSocket handshake that cannot be read: the same shape and headers, not ws's plain text
    const upgrade = (method: string, headers: string) =>
      `${method} /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${headers}\r\n`;
    const key = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    for (const request of [
      upgrade('GET', 'Sec-WebSocket-Version: 13\r\n'), // no key
      upgrade('GET', 'Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n'),
      upgrade('GET', `${key}Sec-WebSocket-Version: 99\r\n`),
      upgrade('GET', `${key}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a,,b\r\n`),
    ]) {
      const r = await raw(server.url, request);
      expect(r.status, request).toBe(400);
      expect(r.body, request).toEqual({ error: { code: 'E_BAD_REQUEST', message: expect.stringMatching(/^the request cannot be read: /) } });
      expect(r.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'same-origin' });
    }
    const posted = await raw(server.url, upgrade('POST', `${key}Sec-WebSocket-Version: 13\r\n`));
    expect(posted.status).toBe(404);
    expect(posted.body).toEqual({ error: { code: 'E_NOT_FOUND', message: 'no POST /ws here: a WebSocket opens with GET' } });
    // a WebSocket asked for anywhere but /ws: a 404 that says where it is, not a dropped connection
    const elsewhere = await handshake(server.wsUrl.replace(/\/ws$/, '/wsx'), {});
    expect(elsewhere.status).toBe(404);
    expect(JSON.parse(elsewhere.body)).toEqual({ error: { code: 'E_NOT_FOUND', message: 'no WebSocket at /wsx: it is at /ws' } });
    expect(elsewhere.headers['x-frame-options']).toBe('DENY');
  });
});

describe('health, liveness and readiness', () => {
  it('/livez answers while the process runs; /readyz says not ready while an upgrade cuts over and while it stops; /health has the boot id', { timeout: 60_000 }, async () => {
    const server = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: 'http-test-token-0123456789', logLevel: 'silent' });
    const client = await TestClient.open(server.wsUrl);
    const hello = client.frames[0] as { boot: string };
    expect((await (await fetch(`${server.url}/health`)).json()).boot).toBe(hello.boot);
    expect(await (await fetch(`${server.url}/livez`)).json()).toEqual({ ok: true });
    const ready = await fetch(`${server.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { ok: true }]);

    // While an upgrade cuts over (commands wait), the server is live but not ready. A held upgrade,
    // so that the cut-over starts when the test says; a write while it is held, so the cut-over has a
    // last round to catch up (with nothing written since the last check it has nothing to wait for);
    // a connection already open, so the request is read in the very next turn of the server's loop,
    // while the cut-over waits for that round.
    const { buildRelease } = await import('../../src/release/build.ts');
    const v2 = await buildRelease(2);
    const upgrade = server.kernel.upgrade({ code: v2.code, view: v2.view }, { hold: true });
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200); // migrating beside the live feed: still ready
    const sock = connect(Number(new URL(server.url).port), '127.0.0.1');
    await once(sock, 'connect');
    await new Promise((r) => setTimeout(r, 50));
    let raw = '';
    sock.on('data', (d: Buffer) => (raw += String(d)));
    // the write: answered inside a batch, and cutover() called in the same turn, so no held round
    // runs between them and catches it up first
    const writer = server.kernel.connect({ welcome() {}, event() {}, upgrade() {} });
    expect(await server.kernel.dispatch(writer, { type: 'join', handle: 'ready_watcher' })).toMatchObject({ ok: true });
    server.kernel.cutover();
    while (!server.kernel.cuttingOver) await new Promise((r) => setImmediate(r));
    sock.write('GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await once(sock, 'end');
    expect((await upgrade).result).toBe('committed');
    const during = { status: Number(/^HTTP\/1\.1 (\d+)/.exec(raw)?.[1]), body: JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) };
    expect(during).toEqual({ status: 503, body: { ok: false, reason: 'upgrading' } });
    await expect.poll(() => server.kernel.version).toBe(2);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    // Once it stops, it takes no one new, and says so while it drains (here: a client that does not
    // read holds the drain for its grace)
    (client.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const closing = server.close();
    const after = await fetch(`${server.url}/readyz`);
    expect({ status: after.status, body: await after.json() }).toEqual({ status: 503, body: { ok: false, reason: 'stopping' } });
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(server.wsUrl);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => resolve(-1));
    });
    expect(refused).toBe(503);
    client.close();
    await closing;
  });
});

describe('/metrics', () => {
  /** GET /metrics from `localAddress`: status, retry-after and body. */
  function scrape(url: string, localAddress = '127.0.0.1'): Promise<{ status: number; retryAfter: unknown; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${url}/metrics`, { localAddress, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += String(d)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('gives each address a budget of scrapes: past it 429 E_RATE_LIMITED with retryMs, other addresses still served', async () => {
    // (a scrape costs milliseconds of the thread that serves the feed: one client asking for it in a
    // loop slowed everyone's commands)
    const server = await startServer({ port: 0, host: '0.0.0.0', operatorPort: 0, token: 'http-test-token-0123456789', logLevel: 'silent', ws: { metricsBurst: 3, metricsPerSec: 2 } });
    try {
      const url = `http://127.0.0.1:${new URL(server.url).port}`;
      const flood = await Promise.all(Array.from({ length: 8 }, () => scrape(url)));
      const served = flood.filter((r) => r.status === 200);
      const refused = flood.filter((r) => r.status === 429);
      expect([served.length, refused.length]).toEqual([3, 5]);
      expect(served[0]!.body).toMatch(/^molt_feed_version 1$/m);
      const error = (JSON.parse(refused[0]!.body) as { error: { code: string; message: string; retryMs: number } }).error;
      expect(error).toMatchObject({ code: 'E_RATE_LIMITED', message: expect.stringMatching(/from your address/) });
      expect(error.retryMs).toBeGreaterThan(0);
      expect(error.retryMs).toBeLessThanOrEqual(500);
      expect(refused[0]!.retryAfter).toBe('1');

      expect((await scrape(url, '127.0.0.2')).status).toBe(200); // another address: its own budget
      await new Promise((r) => setTimeout(r, error.retryMs + 50));
      expect((await scrape(url)).status).toBe(200); // told when, and served then
    } finally {
      await server.close();
    }
  });
});
