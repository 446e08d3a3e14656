import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { TestClient, UNMETERED } from '../support/client.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

describe('transport: bad input gets a clear error and loses nothing', () => {
  let server: RunningServer;
  let client: TestClient;

  beforeAll(async () => {
    server = await startServer({ port: 0, operatorPort: 0, token: 'transport-test-token-0123', logLevel: 'silent', ws: { maxPayload: 4096 } });
    client = await TestClient.open(server.wsUrl);
    await client.ok('join', { handle: 'tester' });
    await client.ok('post', { text: 'before the garbage' });
  });
  afterAll(async () => {
    client.close();
    await server.close();
  });

  it('answers an undecodable binary frame with E_BAD_FRAME and keeps the socket open', async () => {
    const n = client.frames.length;
    client.socket.send(Buffer.from([0xc1, 0xff, 0x00]));
    const f = await client.waitFor((f) => f.t === 'error' && client.frames.indexOf(f) >= n);
    expect(f).toMatchObject({ t: 'error', error: { code: 'E_BAD_FRAME' } });
    expect(client.closed).toBeNull();
    expect((await client.ok('timeline')).posts[0].text).toBe('before the garbage');
    // later frames of a socket that sent garbage are decoded without stacks (codec.ts): same answers
    const m = client.frames.length;
    client.socket.send(Buffer.from([0x85, 0xa2, 0x69, 0x64]));
    const g = await client.waitFor((f) => f.t === 'error' && client.frames.indexOf(f) >= m);
    expect(g).toMatchObject({ t: 'error', error: { code: 'E_BAD_FRAME' } });
    expect((await client.ok('timeline')).posts[0].text).toBe('before the garbage');
  });

  it('answers a text frame with E_BAD_FRAME', async () => {
    const n = client.frames.length;
    client.socket.send('{"id":1,"type":"post"}');
    const f = await client.waitFor((f) => f.t === 'error' && client.frames.indexOf(f) >= n);
    expect(f).toMatchObject({ error: { code: 'E_BAD_FRAME', message: expect.stringContaining('binary msgpack') } });
  });

  it('answers a command without a numeric id or string type with E_BAD_COMMAND', async () => {
    const n = client.frames.length;
    client.socket.send(packr.pack({ type: 'post', text: 'no id' }));
    client.socket.send(packr.pack([1, 2, 3]));
    client.socket.send(packr.pack({ id: 77, type: 12 }));
    const reply = await client.waitFor((f) => f.t === 'reply' && f.id === 77);
    expect(reply).toMatchObject({ ok: false, error: { code: 'E_BAD_COMMAND' } });
    expect(client.frames.slice(n).filter((f) => f.t === 'error')).toHaveLength(2);
  });

  it('does not let a __proto__ key reach the feed as a prototype', async () => {
    const raw = Buffer.concat([Buffer.from([0x83]), packr.pack('id'), packr.pack(90), packr.pack('type'), packr.pack('post'), packr.pack('__proto__'), packr.pack({ text: 'sneaky' })]);
    client.socket.send(raw);
    const reply = await client.waitFor((f) => f.t === 'reply' && f.id === 90);
    expect(reply).toMatchObject({ ok: false });
    expect((await client.ok('timeline')).posts.map((p: { text: string }) => p.text)).not.toContain('sneaky');
  });


  it('refuses a command holding what is not plain data (bin, extension types, NaN, nesting past 256) with E_BAD_COMMAND, and nothing is posted', async () => {
    // what a msgpack library may send: bytes (bin), msgpackr's typed-array and Set extensions, the
    // timestamp extension, a BigInt, a NaN. Decoded, each would reach the feed as a Buffer, a Float64Array,
    // a Set, a Date, a BigInt: none of them plain data
    const rich = new Packr({ moreTypes: true, structuredClone: true, useRecords: false });
    const text = (i: number) => `not plain ${i}`;
    const frames = [
      Buffer.concat([Buffer.from([0x84]), packr.pack('id'), packr.pack(301), packr.pack('type'), packr.pack('post'), packr.pack('text'), packr.pack(text(1)), packr.pack('x'), Buffer.from([0xc4, 0x03, 1, 2, 3])]),
      rich.pack({ id: 302, type: 'post', text: text(2), x: new Float64Array(4) }),
      rich.pack({ id: 303, type: 'post', text: text(3), x: { deep: [new Set([1])] } }),
      rich.pack({ id: 304, type: 'post', text: text(4), x: new Date(0) }),
      rich.pack({ id: 305, type: 'post', text: text(5), x: 2n ** 70n }),
      packr.pack({ id: 306, type: 'post', text: text(6), x: Number.NaN }),
      packr.pack({ id: 307, type: 'post', text: text(7), x: Array.from({ length: 300 }).reduce((r: unknown) => ({ r }), {}) }),
      // an extension type no library here knows (fixext 1 of type 5, and of type -5): read, then refused by its id
      Buffer.concat([Buffer.from([0x84]), packr.pack('id'), packr.pack(308), packr.pack('type'), packr.pack('post'), packr.pack('text'), packr.pack(text(8)), packr.pack('x'), Buffer.from([0xd4, 0x05, 0x00])]),
      Buffer.concat([Buffer.from([0x84]), packr.pack('id'), packr.pack(309), packr.pack('type'), packr.pack('post'), packr.pack('text'), packr.pack(text(9)), packr.pack('x'), Buffer.from([0xd4, 0xfb, 0x00])]),
    ];
    for (const f of frames) client.socket.send(f);
    const replies = await Promise.all([301, 302, 303, 304, 305, 306, 307, 308, 309].map((id) => client.waitFor((f) => f.t === 'reply' && f.id === id)));
    for (const r of replies) expect(r).toMatchObject({ ok: false, error: { code: 'E_BAD_COMMAND', message: expect.stringContaining('only plain data') } });
    expect(replies.map((r) => (r as { error: { message: string } }).error.message)).toEqual([
      expect.stringContaining('a Buffer at x'),
      expect.stringContaining('a Float64Array at x'),
      expect.stringContaining('a Set at x.deep[0]'),
      expect.stringContaining('a Date at x'),
      expect.stringContaining('a bigint at x'),
      expect.stringContaining('the number NaN at x'),
      expect.stringContaining('nesting deeper than 256 levels at x.r.r'),
      expect.stringContaining('a MsgpackExtension at x'),
      expect.stringContaining('a MsgpackExtension at x'),
    ]);
    expect(client.closed).toBeNull();
    // the byte msgpack never uses, alone, is not a frame
    const fresh = await TestClient.open(server.wsUrl);
    fresh.socket.send(Buffer.from([0xc1]));
    expect(await fresh.waitFor((f) => f.t === 'error' || f.t === 'reply')).toMatchObject({ t: 'error', error: { code: 'E_BAD_FRAME' } });
    fresh.close();
    const texts = (await client.ok('timeline')).posts.map((p: { text: string }) => p.text);
    for (let i = 1; i <= 9; i++) expect(texts).not.toContain(text(i));
    expect((await client.ok('post', { text: 'plain again' })).post).toBeDefined();
  });
  it('refuses msgpackr\'s structured-clone references (a graph of 2^N nodes in a few hundred bytes) at once, without walking them', async () => {
    // ext 0x69 names the value after it, ext 0x70 points at a named one: level k is [level k-1, pointer to it]
    const ext = (type: number, id: number) => Buffer.from([0xd6, type, 0, 0, 0, id]);
    let graph = Buffer.concat([ext(0x69, 0), packr.pack(['a', 'a'])]);
    for (let k = 1; k <= 24; k++) graph = Buffer.concat([ext(0x69, k), Buffer.from([0x92]), graph, ext(0x70, k - 1)]);
    const n = client.frames.length;
    const t0 = performance.now();
    client.socket.send(Buffer.concat([Buffer.from([0x84]), packr.pack('id'), packr.pack(310), packr.pack('type'), packr.pack('post'), packr.pack('text'), packr.pack('a graph'), packr.pack('x'), graph]));
    // a pointer alone, and a name alone: extensions like any other
    client.socket.send(Buffer.concat([Buffer.from([0x83]), packr.pack('id'), packr.pack(311), packr.pack('type'), packr.pack('post'), packr.pack('text'), ext(0x70, 0)]));
    client.socket.send(Buffer.concat([Buffer.from([0x83]), packr.pack('id'), packr.pack(312), packr.pack('type'), packr.pack('post'), packr.pack('text'), ext(0x69, 0)]));
    const last = await client.waitFor((f) => f.t === 'reply' && f.id === 312);
    expect(performance.now() - t0).toBeLessThan(1000);
    const answers = client.frames.slice(n).filter((f) => f.t === 'reply' || f.t === 'error');
    expect(answers).toHaveLength(3);
    // the graph's frame, read without the references, is not a map of a command; the other two name the extension
    expect(answers[0]).toMatchObject({ error: { code: expect.stringMatching(/^E_BAD_(FRAME|COMMAND)$/) } });
    expect(answers.slice(1)).toEqual([
      expect.objectContaining({ id: 311, ok: false, error: expect.objectContaining({ code: 'E_BAD_COMMAND', message: expect.stringContaining('a MsgpackExtension at text') }) }),
      last,
    ]);
    expect(last).toMatchObject({ ok: false, error: { code: 'E_BAD_COMMAND', message: expect.stringContaining('a MsgpackExtension at text') } });
    expect((await client.ok('timeline')).posts.map((p: { text: string }) => p.text)).not.toContain('a graph');
  });

  it('closes a connection that sends a frame over the payload limit with 1009, and others are unaffected', async () => {
    const other = await TestClient.open(server.wsUrl);
    other.socket.send(packr.pack({ id: 1, type: 'post', text: 'x'.repeat(10_000) }));
    await new Promise<void>((resolve) => other.socket.once('close', () => resolve()));
    expect(other.closed?.code).toBe(1009);
    expect(client.closed).toBeNull();
    expect((await client.ok('timeline')).posts.length).toBeGreaterThan(0);
  });

  it('refuses a post over 500 characters with the feed\'s own code, and the state is unchanged', async () => {
    const before = server.kernel.state;
    const r = await client.send('post', { text: 'y'.repeat(501) });
    expect(r).toMatchObject({ ok: false, error: { code: 'too_long' } });
    expect(server.kernel.state).toBe(before);
  });

  it('answers $since with the very event frames a live socket saw, and a hello that names the protocol', async () => {
    const late = await TestClient.open(server.wsUrl);
    const hello = late.frames[0] as { t: string; protocol: number; seq: number; commands: string[] };
    expect(hello).toMatchObject({ t: 'hello', protocol: 1, version: 1 });
    expect(hello.commands).toContain('post');
    await client.ok('post', { text: 'seen live, then again' });
    const live = await late.waitFor((f) => f.t === 'event' && f.seq > hello.seq);
    const since = await late.ok('$since', { seq: hello.seq });
    expect(since.events[0]).toEqual(live);
    expect(since.events[0]).toMatchObject({ t: 'event', version: 1, event: { type: 'post' } });
    late.close();
  });

  it('answers a thousand frames sent in one go once each and in order, past the in-flight bound', async () => {
    const fast = await startServer({ port: 0, operatorPort: 0, token: 'transport-test-token-0123', logLevel: 'silent', ws: { ...UNMETERED, maxInFlight: 64 } });
    try {
      const socket = new WebSocket(fast.wsUrl);
      await new Promise((r) => socket.once('open', r));
      const ids: number[] = [];
      const all = new Promise<void>((resolve) =>
        socket.on('message', (d: Buffer) => {
          const f = packr.unpack(d);
          if (f.t === 'reply') ids.push(f.ok ? f.id : -f.id);
          if (ids.length === 1000) resolve();
        }),
      );
      // one buffer of 1,000 frames: the server reads a few a turn, stops reading past 64 in flight, and resumes
      const frames = Array.from({ length: 1000 }, (_, i) => packr.pack({ id: i + 1, type: i % 3 ? '$ping' : 'timeline' }));
      for (const f of frames) socket.send(f);
      await all;
      expect(ids).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      socket.close();
    } finally {
      await fast.close();
    }
  });

  it('counts commands in its metrics by type and outcome, each one once', async () => {
    const counted = async (type: string, outcome: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`molt_commands_total{type="${type}",outcome="${outcome}"} `));
      return line === undefined ? 0 : Number(line.split(' ').pop());
    };
    const [posts, refused, other] = [await counted('post', 'ok'), await counted('thread', 'refused'), await counted('other', 'error')];
    for (let i = 0; i < 3; i++) await client.ok('post', { text: `counted ${i}` });
    for (let i = 0; i < 2; i++) expect(await client.send('thread', { post: 'p-nowhere' })).toMatchObject({ ok: false });
    expect(await client.send('no-such-type', {})).toMatchObject({ ok: false, error: { code: 'E_UNKNOWN_COMMAND' } });
    expect([await counted('post', 'ok'), await counted('thread', 'refused'), await counted('other', 'error')]).toEqual([posts + 3, refused + 2, other + 1]);
  });

  it('refuses WebSocket upgrades on other paths', async () => {
    const ws = new WebSocket(server.wsUrl.replace('/ws', '/elsewhere'));
    const err = await new Promise((resolve) => ws.once('error', resolve));
    expect(String(err)).toMatch(/socket hang up|Unexpected server response/);
  });

  it('serves health, metrics, the client and the running view', async () => {
    const health = await (await fetch(`${server.url}/health`)).json();
    expect(health).toMatchObject({ ok: true, version: server.kernel.version, release: server.kernel.release });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/molt_commands_total\{type="post",outcome="ok"\} \d+/);
    expect(metrics).toMatch(/molt_feed_version 1/);
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const hello = client.frames.find((f) => f.t === 'hello') as { view: string };
    const view = await fetch(`${server.url}${hello.view}`);
    expect(view.status).toBe(200);
    expect(view.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${server.url}/views/${'0'.repeat(64)}.js`)).status).toBe(404);
  });
});
