/**
 * Fair service over real sockets: budgets per connection and per address, joins, connections per
 * address, malformed frames, and replies in the order the frames were sent, whatever answered them.
 */
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { TestClient, UNMETERED } from '../support/client.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const TOKEN = 'budgets-test-token-0123456789';
let server: RunningServer | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function serve(ws: Parameters<typeof startServer>[0] extends infer O ? (O extends { ws?: infer W } ? W : never) : never) {
  server = await startServer({ port: 0, operatorPort: 0, token: TOKEN, logLevel: 'silent', ws });
  return server;
}
async function open(): Promise<TestClient> {
  const c = await TestClient.open(server!.wsUrl);
  clients.push(c);
  return c;
}
const replies = (c: TestClient, from = 0) => c.frames.slice(from).filter((f): f is Extract<ServerFrame, { t: 'reply' }> => f.t === 'reply');
/** Send raw msgpack maps as fast as the socket takes them; resolves when every one is answered. */
async function pipeline(c: TestClient, frames: object[]): Promise<Extract<ServerFrame, { t: 'reply' }>[]> {
  const from = c.frames.length;
  for (const f of frames) c.socket.send(packr.pack(f));
  await expect.poll(() => replies(c, from).length, { timeout: 10_000 }).toBe(frames.length);
  return replies(c, from);
}

describe('command budgets', () => {
  it('answers commands past a connection\'s burst with E_RATE_LIMITED and a retry hint, in order, none dropped', async () => {
    await serve({ commandsPerSec: 5, commandBurst: 10, maxRefusedFrames: 1000 });
    const c = await open();
    const got = await pipeline(c, Array.from({ length: 30 }, (_, i) => ({ id: i + 1, type: '$ping' })));
    expect(got.map((r) => r.id)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const ok = got.filter((r) => r.ok).length;
    expect(ok).toBeGreaterThanOrEqual(10);
    expect(ok).toBeLessThan(13); // the burst, and what refilled meanwhile (5 a second)
    const refused = got.filter((r) => !r.ok);
    expect(refused).toHaveLength(30 - ok);
    for (const r of refused)
      expect(r).toMatchObject({ ok: false, error: { code: 'E_RATE_LIMITED', message: expect.stringMatching(/^too many commands \(at most 10 at once, then 5 a second for this connection\); try again in \d+ ms$/), retryMs: expect.any(Number) } });
    expect((refused[0] as { error: { retryMs: number } }).error.retryMs).toBeGreaterThan(0);
    expect((refused[0] as { error: { retryMs: number } }).error.retryMs).toBeLessThanOrEqual(200);
    // the hint is honest: after it, the command goes through
    await new Promise((r) => setTimeout(r, (refused[0] as { error: { retryMs: number } }).error.retryMs + 250));
    expect(await c.send('$ping')).toMatchObject({ ok: true });
    const metrics = await (await fetch(`${server!.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`molt_rate_limited_total\\{scope="connection",budget="commands"\\} ${refused.length}`));
  });

  it('shares one budget among all connections from an address', async () => {
    await serve({ ...UNMETERED, ipCommandsPerSec: 1, ipCommandBurst: 6 });
    const a = await open();
    const b = await open();
    for (let i = 0; i < 6; i++) expect(await a.send('$ping')).toMatchObject({ ok: true });
    expect(await b.send('$ping')).toMatchObject({ ok: false, error: { code: 'E_RATE_LIMITED', message: expect.stringContaining('for your address') } });
  });

  it('has a budget of its own for joins, per connection and per address', async () => {
    await serve({ joinBurst: 2, joinsPerMin: 1, ipJoinBurst: 3, ipJoinsPerMin: 1 });
    const a = await open();
    expect(await a.send('join', { handle: 'first' })).toMatchObject({ ok: true });
    expect(await a.send('join', { handle: 'second' })).toMatchObject({ ok: true });
    const third = await a.send('join', { handle: 'third' });
    expect(third).toMatchObject({ ok: false, error: { code: 'E_RATE_LIMITED', message: expect.stringContaining('joins (at most 2 at once, then 1 a minute for this connection)') } });
    expect(third.error!.retryMs).toBeGreaterThan(50_000);
    // other commands are not joins: they still go through
    expect(await a.send('post', { text: 'still here' })).toMatchObject({ ok: true });
    const b = await open();
    expect(await b.send('join', { handle: 'fourth' })).toMatchObject({ ok: true });
    expect(await b.send('join', { handle: 'fifth' })).toMatchObject({ ok: false, error: { code: 'E_RATE_LIMITED', message: expect.stringContaining('for your address') } });
  });
});

describe('connections per address', () => {
  it('greets one too many with E_TOO_MANY_CONNECTIONS instead of hello and closes it with 1008; a place freed is taken again', async () => {
    await serve({ maxConnectionsPerIp: 2 });
    const a = await open();
    await open();
    const { default: WebSocket } = await import('ws');
    const extra = new WebSocket(server!.wsUrl);
    const frames: ServerFrame[] = [];
    extra.on('message', (d: Buffer) => frames.push(packr.unpack(d)));
    const [code, reason] = await new Promise<[number, string]>((resolve) => extra.once('close', (c, r) => resolve([c, String(r)])));
    expect(code).toBe(1008);
    expect(reason).toBe('too many connections from your address');
    expect(frames).toEqual([{ t: 'error', error: { code: 'E_TOO_MANY_CONNECTIONS', message: expect.stringContaining('at most 2'), retryMs: expect.any(Number) } }]);
    a.close();
    await expect.poll(() => server!.kernel.connections).toBe(1);
    const again = await open();
    expect(await again.send('$ping')).toMatchObject({ ok: true });
  });

  /** Whether a connection that says it is for `client` (X-Forwarded-For) gets its hello. */
  const greeted = async (client: string): Promise<boolean> => {
    const { default: WebSocket } = await import('ws');
    const socket = new WebSocket(server!.wsUrl, { headers: { 'X-Forwarded-For': client } });
    const first = await new Promise<ServerFrame>((resolve) => socket.once('message', (d: Buffer) => resolve(packr.unpack(d))));
    if (first.t === 'hello') clients.push({ close: () => socket.close() } as TestClient);
    else expect(first).toMatchObject({ t: 'error', error: { code: 'E_TOO_MANY_CONNECTIONS' } });
    return first.t === 'hello';
  };

  it("counts each client behind a trusted reverse proxy by the address the proxy forwards, and no one else's say-so", async () => {
    await serve({ maxConnectionsPerIp: 1, trustProxy: ['loopback'] });
    expect(await greeted('198.51.100.1')).toBe(true);
    expect(await greeted('198.51.100.2')).toBe(true); // another person behind the same proxy
    expect(await greeted('198.51.100.1')).toBe(false); // the first one's place is taken
    expect(await greeted('2001:db8:1:2::1, 198.51.100.3')).toBe(true); // the nearest hop the proxy added
    await server!.close();

    // without a trusted proxy the header is the client's own claim: the socket's address counts
    await serve({ maxConnectionsPerIp: 1 });
    expect(await greeted('198.51.100.1')).toBe(true);
    expect(await greeted('198.51.100.2')).toBe(false);
  });
});

/** Send $ping until `n` are answered, waiting `share` of each refusal's retryMs; returns the refusals. */
async function pingsAnswered(c: Awaited<ReturnType<typeof open>>, n: number, share: number): Promise<number> {
  let refusals = 0;
  for (let answered = 0; answered < n; ) {
    const r = await c.send('$ping');
    if (r.ok) answered++;
    else {
      refusals++;
      await new Promise((res) => setTimeout(res, r.error!.retryMs! * share));
    }
  }
  return refusals;
}

describe('malformed frames', () => {
  it('count against the budget, and past the bound the socket is closed with 1008 while others go on', async () => {
    await serve({ ...UNMETERED, maxRefusedFrames: 20 });
    const bad = await open();
    const good = await open();
    for (let i = 0; i < 40; i++) bad.socket.send(Buffer.from([0xc1, i]));
    await expect.poll(() => bad.closed?.code, { timeout: 5000 }).toBe(1008);
    expect(bad.closed?.reason).toBe('too many refused frames (malformed or over budget)');
    const errors = bad.frames.filter((f) => f.t === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(20);
    expect(errors.length).toBeLessThan(40); // nothing after the close
    expect(errors.every((f) => f.t === 'error' && f.error.code === 'E_BAD_FRAME')).toBe(true);
    expect(await good.send('$ping')).toMatchObject({ ok: true });
    expect(await (await fetch(`${server!.url}/metrics`)).text()).toMatch(/molt_closed_peers_total\{reason="refused_frames"\} 1/);
  });

  it('count when the kernel finds them malformed too (not plain data, a bad $since), kernel commands included', async () => {
    await serve({ ...UNMETERED, maxRefusedFrames: 10 });
    const bad = await open();
    const good = await open();
    const junk = [{ type: 'timeline', limit: NaN }, { type: '$ping', at: Infinity }, { type: '$since', seq: 'x' }, { type: 'post', text: new Uint8Array([1]) }];
    for (let i = 0; i < 20; i++) bad.socket.send(packr.pack({ id: i + 1, ...junk[i % junk.length] }));
    await expect.poll(() => bad.closed?.code, { timeout: 5000 }).toBe(1008);
    const refused = replies(bad);
    expect(refused.length).toBeGreaterThanOrEqual(10);
    expect(refused.length).toBeLessThan(20);
    expect(refused.every((r) => !r.ok && r.error.code === 'E_BAD_COMMAND')).toBe(true);
    expect(refused[1]).toMatchObject({ id: 2, error: { message: expect.stringMatching(/\$ping.*Infinity/) } });
    expect(await good.send('$ping')).toMatchObject({ ok: true });
  });

  it('an id of -0 is no usable id: an error frame, not a reply to id 0', async () => {
    await serve({ ...UNMETERED });
    const c = await open();
    const from = c.frames.length;
    // {id: -0.0 as a float64, type: '$ping'} (encoders write -0 as the integer 0 otherwise)
    const minusZero = Buffer.alloc(9);
    minusZero[0] = 0xcb;
    minusZero.writeDoubleBE(-0, 1);
    c.socket.send(Buffer.concat([Buffer.of(0x82), packr.pack('id'), minusZero, packr.pack('type'), packr.pack('$ping')]));
    const f = await c.waitFor((x) => x.t === 'error' || x.t === 'reply');
    expect(c.frames.indexOf(f)).toBeGreaterThanOrEqual(from);
    expect(f).toMatchObject({ t: 'error', error: { code: 'E_BAD_COMMAND' } });
  });

  it('use up the same command budget as good frames', async () => {
    await serve({ commandsPerSec: 0.5, commandBurst: 5, maxRefusedFrames: 1000 });
    const c = await open();
    for (let i = 0; i < 5; i++) c.socket.send(Buffer.from([0xc1]));
    expect(await c.send('$ping')).toMatchObject({ ok: false, error: { code: 'E_RATE_LIMITED' } });
  });

  it('a client that waits as told is never closed, however often it is refused', async () => {
    await serve({ commandsPerSec: 100, commandBurst: 2, maxRefusedFrames: 3 });
    const c = await open();
    expect(await pingsAnswered(c, 40, 1)).toBeGreaterThan(3);
    expect(c.closed).toBeNull();
  });

  it('a client whose timer fires a little early (a busy machine) is not closed; one that ignores retryMs is', async () => {
    await serve({ commandsPerSec: 50, commandBurst: 1, maxRefusedFrames: 3 });
    const early = await open();
    // back after 70% of the wait it was told
    expect(await pingsAnswered(early, 12, 0.7)).toBeGreaterThan(3);
    expect(early.closed).toBeNull();
    const eager = await open();
    for (let i = 0; i < 12 && eager.closed === null; i++) eager.socket.send(packr.pack({ id: i + 1, type: '$ping' }));
    await expect.poll(() => eager.closed?.code, { timeout: 5000 }).toBe(1008);
  });
});

describe('replies', () => {
  it('come in the order the frames were sent, whatever answered them', async () => {
    await serve({ ...UNMETERED });
    const c = await open();
    await c.ok('join', { handle: 'orderly' });
    const from = c.frames.length;
    // good commands, commands with an id but no string type, and frames with no usable id, interleaved
    const sent: object[] = [];
    for (let i = 1; i <= 10; i++) sent.push(i % 2 ? { id: 100 + i, type: 'post', text: `n${i}` } : { id: 100 + i, type: 42 });
    sent.splice(3, 0, { type: 'no id' });
    for (const f of sent) c.socket.send(packr.pack(f));
    c.socket.send('a text frame');
    c.socket.send(packr.pack({ id: 200, type: '$ping' }));
    await c.waitFor((f) => f.t === 'reply' && f.id === 200);
    const answers = c.frames.slice(from).filter((f) => f.t === 'reply' || f.t === 'error').map((f) => (f.t === 'reply' ? f.id : f.error.code));
    expect(answers).toEqual([101, 102, 103, 'E_BAD_COMMAND', 104, 105, 106, 107, 108, 109, 110, 'E_BAD_FRAME', 200]);
  });
});
