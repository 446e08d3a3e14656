/**
 * What a client written from docs/PROTOCOL.md and docs/FEED.md alone reads, checked against a real
 * server on an ephemeral port through a real WebSocket: the sentences that a reading of the docs
 * against the server found missing or loose (which upgrade frames carry `ms`, the rollback by replay's
 * `begin`, the byte bound on `$since`'s backlog, a left-out or nil id).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import type { UpgradeFrame } from '../../src/transport/protocol.ts';
import { servedWith } from '../support/served.ts';
import { TestClient, UNMETERED, molt } from '../support/client.ts';

const TOKEN = 'docs-contract-token-0123456789';
const SERVED = { port: 0, host: '127.0.0.1', operatorPort: 0, token: TOKEN, logLevel: 'silent', ws: UNMETERED } as const;

/** A server of the test's own, on ephemeral ports, closed when `use` is done. */
const served = servedWith(SERVED);

describe('the upgrade frames, as PROTOCOL.md lists them', () => {
  let server: RunningServer;
  let ada: TestClient;
  const cli = (args: string[]) => molt([...args, '--url', server.operatorUrl, '--token', TOKEN, '--json']);
  const attempt = (id: string) => ada.frames.filter((f): f is UpgradeFrame => f.t === 'upgrade' && f.upgrade === id);

  beforeAll(async () => {
    server = await startServer(SERVED);
    ada = await TestClient.open(server.wsUrl);
    await ada.ok('join', { handle: 'ada' });
    const { post } = await ada.ok('post', { text: 'before the push' });
    await ada.ok('like', { post: post.id });
  });
  afterAll(async () => {
    ada?.close();
    await server?.close();
  });

  it('gives ms on begin and load (the load time, the same), validate, committed (the pause) and dry-run (0), none on the others; detail on every frame, hello only on committed', async () => {
    const push = await cli(['push', '2']);
    expect(push.code).toBe(0);
    const report = JSON.parse(push.stdout);
    const frames = attempt(report.upgrade);
    const phase = (p: string) => frames.filter((f) => f.phase === p);
    expect(frames.map((f) => f.phase)).toEqual(expect.arrayContaining(['begin', 'load', 'migrate', 'validate', 'cutover', 'committed']));

    const [begin] = phase('begin');
    const [load] = phase('load');
    expect(begin!.ms).toEqual(expect.any(Number));
    expect(load!.ms).toBe(begin!.ms);
    expect(phase('validate')[0]!.ms).toEqual(expect.any(Number));
    const [committed] = phase('committed');
    expect(committed!.ms).toBe(committed!.detail!.pauseMs);
    for (const f of frames.filter((f) => ['migrate', 'catch-up', 'held', 'cutover'].includes(f.phase))) expect(f).not.toHaveProperty('ms');
    for (const f of frames) expect(f.detail).toEqual(expect.any(Object));
    // each phase's detail holds what the table gives it, nothing less and nothing more
    const fields: Record<string, string[]> = {
      begin: ['describe', 'dryRun', 'hold', 'kind', 'pace', 'steps'],
      load: ['steps'],
      migrate: ['before', 'dryRun', 'progress', 'steps'],
      validate: ['before', 'census'],
      'catch-up': ['entities', 'round'],
      cutover: [],
      committed: ['changed', 'pauseMs', 'report'],
    };
    for (const f of frames) expect([f.phase, Object.keys(f.detail!).sort()]).toEqual([f.phase, fields[f.phase]]);
    const [migrate] = phase('migrate');
    expect(Object.keys((migrate!.detail as any).progress).sort()).toEqual(['done', 'etaMs', 'kinds', 'rate', 'round', 'total']);
    expect(migrate!.detail).toMatchObject({ steps: [{ step: '1->2', describe: 'Likes are becoming emoji reactions: every like turns into a ❤️.' }], dryRun: false, before: { users: 1, posts: 1, likes: 1 } });
    for (const f of frames) expect(f.hello !== undefined).toBe(f.phase === 'committed');
    expect(committed!.hello).toMatchObject({ t: 'hello', version: 2, commands: expect.arrayContaining(['react']) });
    // the hello it carries is this connection's own: the same conn as the first hello
    const first = ada.frames[0] as { t: string; conn: string; protocol: number; boot: string };
    expect(first).toMatchObject({ t: 'hello', protocol: 1, conn: expect.stringMatching(/^c\d+$/) });
    expect(committed!.hello).toMatchObject({ conn: first.conn, boot: first.boot, protocol: 1 });
    const other = await TestClient.open(server.wsUrl);
    expect((other.frames[0] as { conn: string }).conn).not.toBe(first.conn);
    other.close();

    const dry = JSON.parse((await cli(['push', '3', '--dry-run'])).stdout);
    const end = attempt(dry.upgrade).at(-1)!;
    expect(end).toMatchObject({ phase: 'dry-run', ms: 0 });
    expect(Object.keys(end.detail!)).toEqual(['report']);
  }, 60_000);

  it("marks a rollback by replay's begin with window: true, one step named window, progress counted in writes, and a validate without ms", async () => {
    await ada.ok('post', { text: 'in the window' }); // a write in the window, replayed on v1
    const back = await cli(['rollback', '--replay']);
    expect(back.code).toBe(0);
    const report = JSON.parse(back.stdout);
    const frames = attempt(report.upgrade);
    const begin = frames.find((f) => f.phase === 'begin')!;
    expect(begin.detail).toMatchObject({ kind: 'rollback', window: true, steps: [{ step: 'window', describe: expect.any(String) }] });
    expect(begin.direction).toBe('down');
    const migrate = frames.find((f) => f.phase === 'migrate')!;
    expect(Object.keys((migrate.detail as any).progress.kinds)).toEqual(['writes']);
    const validate = frames.find((f) => f.phase === 'validate')!;
    expect(validate).not.toHaveProperty('ms');
    expect(frames.at(-1)).toMatchObject({ phase: 'committed', to: { version: 1 } });
    // a push's begin has no window
    const pushBegin = ada.frames.find((f): f is UpgradeFrame => f.t === 'upgrade' && f.phase === 'begin' && f.direction === 'up')!;
    expect(pushBegin.detail).not.toHaveProperty('window');
  }, 60_000);
});

describe("the upgrade frames' before, as PROTOCOL.md places it", () => {
  it('is in migrate, validate, held and a refusal after the migration began; not in cutover or committed, whose report has it as census.before; a push or rollback while one is held is 409 E_BUSY, no report', async () => {
    await served({}, async (server) => {
    const { buildRelease } = await import('../../src/release/build.ts');
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'bef' });
    const { post } = await c.ok('post', { text: 'counted' });
    await c.ok('like', { post: post.id });
    const built = await buildRelease(2);
    const call = (route: string, body: unknown) =>
      fetch(`${server.operatorUrl}${route}`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
    const upgrade = { release: { code: built.code, view: built.view } };
    const frames = (id: string) => c.frames.filter((f): f is UpgradeFrame => f.t === 'upgrade' && f.upgrade === id);
    const census = { users: 1, posts: 1, likes: 1 };

    const holding = call('/upgrade', { ...upgrade, hold: true });
    const held = (await c.waitFor((f) => f.t === 'upgrade' && f.phase === 'held', 30_000)) as UpgradeFrame;
    // another push or a rollback meanwhile: no attempt, no report, only the error
    for (const [route, body] of [['/upgrade', { ...upgrade, dryRun: true }], ['/rollback', {}]] as const) {
      const busy = await fetch(`${server.operatorUrl}${route}`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      expect([route, busy.status, await busy.json()]).toEqual([route, 409, { error: { code: 'E_BUSY', message: expect.any(String) } }]);
    }
    await call('/abort', {});
    expect(await holding).toMatchObject({ result: 'refused', error: { code: 'E_ABORTED' } });
    await c.waitFor((f) => f.t === 'upgrade' && f.phase === 'refused' && f.upgrade === held.upgrade);
    const aborted = frames(held.upgrade);
    for (const f of aborted.filter((f) => ['migrate', 'validate', 'held', 'refused'].includes(f.phase))) expect([f.phase, f.detail]).toMatchObject([f.phase, { before: census }]);
    expect(Object.keys(held.detail!).sort()).toEqual(['before', 'census', 'progress']);
    expect(aborted.at(-1)!.detail).toEqual({ error: { code: 'E_ABORTED', message: expect.any(String) }, phase: 'held', before: census });

    const report = await call('/upgrade', upgrade);
    expect(report).toMatchObject({ result: 'committed' });
    await c.waitFor((f) => f.t === 'upgrade' && f.phase === 'committed' && f.upgrade === report.upgrade);
    const pushed = frames(report.upgrade);
    for (const f of pushed.filter((f) => ['migrate', 'validate'].includes(f.phase))) expect([f.phase, f.detail]).toMatchObject([f.phase, { before: census }]);
    for (const f of pushed.filter((f) => ['begin', 'load', 'catch-up', 'cutover', 'committed'].includes(f.phase))) expect([f.phase, Object.keys(f.detail ?? {})]).not.toEqual([f.phase, expect.arrayContaining(['before'])]);
    const committed = pushed.find((f) => f.phase === 'committed')!;
    expect(committed.detail).toMatchObject({ report: { census: { before: census } } });
    c.close();
    });
  }, 90_000);
});

describe('$since and the backlog, as PROTOCOL.md bounds it', () => {
  it('says E_GAP for events the byte bound let go before the count bound did, and answers from the ones kept', async () => {
    await served({ limits: { backlogBytes: 8 * 1024 } }, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'bea' });
    for (let i = 0; i < 40; i++) await c.ok('post', { text: `${i} ${'x'.repeat(480)}` });
    const { seq } = await c.ok('$ping');
    expect(seq).toBe(42); // joined, presence, 40 posts: far below the 2,000 the count keeps
    const gap = await c.send('$since', { seq: 0 });
    expect(gap).toMatchObject({ ok: false, error: { code: 'E_GAP' } });
    const recent = await c.ok('$since', { seq: seq - 3 });
    expect(recent.events.map((e: { seq: number }) => e.seq)).toEqual([seq - 2, seq - 1, seq]);
    c.close();
    });
  }, 30_000);
});

describe('ids left out or of the wrong type, as FEED.md says', () => {
  it('refuses them as not found, not as bad_request', async () => {
    await served({ boot: 3 }, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'cyd' });
    for (const type of ['like', 'unlike', 'delete', 'thread', 'react', 'context', 'history']) {
      const r = await c.send(type, type === 'react' ? { emoji: '🎉' } : {});
      expect([type, r.error?.code]).toEqual([type, 'no_such_post']);
    }
    expect((await c.send('like', { post: 5 })).error?.code).toBe('no_such_post');
    expect((await c.send('profile', { user: null, handle: 'cyd' })).error?.code).toBe('no_such_user');
    expect((await c.send('follow', { user: ['u1'] })).error?.code).toBe('no_such_user');
    // a field that is not an id still says bad_request when it is missing
    expect((await c.send('post', {})).error?.code).toBe('bad_request');
    c.close();
    });
  }, 30_000);
});

describe('context, as FEED.md bounds it', () => {
  it('gives the 500 ancestors nearest the post when the chain is longer, 500 descendants and more: true past them, and leaves out what a deleted reply held', async () => {
    await served({ boot: 3 }, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'dee' });
    const root = (await c.ok('post', { text: 'start' })).post;
    let last = root;
    for (let i = 1; i <= 501; i++) last = (await c.ok('post', { text: `depth ${i}`, replyTo: last.id })).post;
    const deep = await c.ok('context', { post: last.id }); // 501 posts above it
    expect(deep.ancestors).toHaveLength(500);
    expect(deep.ancestors[0].text).toBe('depth 1'); // not the thread's start: a reply
    expect(deep.ancestors[0].replyTo).toBe(root.id);
    expect(deep.ancestors.at(-1).text).toBe('depth 500');
    const below = await c.ok('context', { post: root.id }); // 501 replies below it, depth first
    expect([below.descendants.length, below.descendants.at(-1).text, below.more]).toEqual([500, 'depth 500', true]);

    const top = (await c.ok('post', { text: 'top' })).post;
    const gone = (await c.ok('post', { text: 'gone', replyTo: top.id })).post;
    const orphan = (await c.ok('post', { text: 'orphan', replyTo: gone.id })).post;
    const kept = (await c.ok('post', { text: 'kept', replyTo: top.id })).post;
    await c.ok('delete', { post: gone.id });
    const ctx = await c.ok('context', { post: top.id });
    expect(ctx.descendants.map((p: { id: string }) => p.id)).toEqual([kept.id]);
    expect(ctx.more).toBe(false);
    const up = await c.ok('context', { post: orphan.id });
    expect(up.ancestors).toEqual([]); // up to the first deleted one, not included
    c.close();
    });
  }, 60_000);
});

describe("a command map's keys, as PROTOCOL.md reads them", () => {
  it('reads a number, boolean or nil key as its string, __proto__ as __proto_, extension 0 as "undefined", and refuses bytes, another extension or 0xC1 as a key with E_BAD_FRAME', async () => {
    await served({}, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    // {id, type: "$ping", <key>: NaN}: the refusal names the path, so it shows how the key was read
    const NAN = 'cb7ff8000000000000';
    const frame = (id: number, key: string) => Buffer.from(`83a26964${id.toString(16).padStart(2, '0')}a474797065a5${Buffer.from('$ping').toString('hex')}${key}${NAN}`, 'hex');
    const keys: [string, string | null][] = [
      ['01', '1'],
      ['cb3ff8000000000000', '1.5'],
      ['c3', 'true'],
      ['c0', 'null'],
      [`a9${Buffer.from('__proto__').toString('hex')}`, '__proto_'],
      ['d40000', 'undefined'], // extension type 0
      ['c40161', null], // bytes
      ['d40500', null], // extension type 5
      ['d6ffffffffff', null], // a timestamp
      ['c1', null], // the byte msgpack never uses
    ];
    const before = c.frames.length;
    keys.forEach(([key], i) => c.socket.send(frame(i + 1, key)));
    await c.waitFor(() => c.frames.length >= before + keys.length);
    const got = c.frames.slice(before);
    keys.forEach(([, path], i) => {
      if (path === null) expect(got[i]).toMatchObject({ t: 'error', error: { code: 'E_BAD_FRAME' } });
      else expect(got[i]).toMatchObject({ t: 'reply', id: i + 1, ok: false, error: { code: 'E_BAD_COMMAND', message: expect.stringContaining(`holds the number NaN at ${path};`) } });
    });
    c.close();
    });
  }, 30_000);
});

describe("msgpack's extension type 0 as a value, as PROTOCOL.md reads it", () => {
  it('reads it as nil, not as a field left out: limit ext 0 is bad_limit in v3, token ext 0 to leave is bad_request; in an array it is nil too', async () => {
    await served({ boot: 3 }, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'ext' });
    const str = (s: string) => Buffer.concat([Buffer.of(0xa0 | s.length), Buffer.from(s)]).toString('hex');
    // {id, type, <field>: <value>}
    const frame = (id: number, type: string, field: string, value: string) => Buffer.from(`83${str('id')}${id.toString(16).padStart(2, '0')}${str('type')}${str(type)}${str(field)}${value}`, 'hex');
    const EXT0 = 'd40000';
    const sent = [
      frame(1, 'timeline', 'limit', EXT0),
      frame(2, 'timeline', 'limit', 'c0'),
      frame(3, 'follow', 'user', `91${EXT0}`), // [ext 0]: looked up as an id, [null]
      frame(4, 'leave', 'token', EXT0),
      frame(5, 'leave', 'token', 'c0'),
    ];
    const before = c.frames.length;
    for (const f of sent) c.socket.send(f);
    await c.waitFor(() => c.frames.filter((f, i) => i >= before && f.t === 'reply').length >= sent.length);
    const replies = c.frames.slice(before).filter((f) => f.t === 'reply') as { id: number; ok: boolean; error?: { code: string } }[];
    expect(replies.map((r) => [r.id, r.error?.code ?? 'ok'])).toEqual([
      [1, 'bad_limit'],
      [2, 'bad_limit'],
      [3, 'no_such_user'],
      [4, 'bad_request'],
      [5, 'bad_request'],
    ]);
    c.close();
    });
  }, 30_000);
});

describe('what the server sends, as PROTOCOL.md promises any msgpack library reads it', () => {
  it("sends a release's undefined as nil, never as msgpack's extension type 0", async () => {
    const { patchedVersion } = await import('../support/releases.ts');
    const { default: WebSocket } = await import('ws');
    const patched = patchedVersion(
      `const out = served(s, c, ctx);\n  if (c.type === 'online' && 'state' in out) return { ...out, reply: { users: undefined, list: [undefined] }, events: [{ type: 'odd', x: undefined }] };\n  return out;`,
    );
    try {
      await served({ boot: patched.dir }, async (server) => {
        const socket = new WebSocket(server.wsUrl);
        const raw: Buffer[] = [];
        socket.on('message', (d: Buffer) => raw.push(d));
        await new Promise((resolve) => socket.once('open', resolve));
        socket.send(Buffer.from(`82a2696401a474797065a6${Buffer.from('online').toString('hex')}`, 'hex')); // {id: 1, type: "online"}
        await expect.poll(() => raw.length).toBeGreaterThanOrEqual(3); // hello, the event, the reply
        const [event, reply] = raw.slice(1).map((b) => b.toString('hex'));
        // {t: "event", seq: 1, version: 1, event: {type: "odd", x: nil}}
        expect(event).toBe(`de0004a174a56576656e74a373657101a776657273696f6e01a56576656e74de0002a474797065a36f6464a178c0`);
        // {t: "reply", id: 1, ok: true, data: {users: nil, list: [nil]}}
        expect(reply).toBe(`de0004a174a57265706c79a2696401a26f6bc3a464617461de0002a57573657273c0a46c69737491c0`);
        socket.close();
      });
    } finally {
      patched.remove();
    }
  }, 60_000);
});

describe('frames and strings, as PROTOCOL.md reads them', () => {
  it("decodes bad UTF-8 as TextDecoder does, reads a key given twice by its last value, refuses bytes after the map, an empty frame and 0xC1 alone with E_BAD_FRAME (0xC1 as a value, E_BAD_COMMAND), and bounds $since's seq by the newest event", async () => {
    await served({}, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'utf' });
    const str = (s: string) => Buffer.concat([Buffer.of(0xa0 | s.length), Buffer.from(s)]).toString('hex');
    const send = async (hex: string, frames = 1) => {
      const before = c.frames.length;
      c.socket.send(Buffer.from(hex, 'hex'));
      await c.waitFor(() => c.frames.slice(before).filter((f) => f.t === 'reply' || f.t === 'error').length >= frames);
      return c.frames.slice(before).filter((f) => f.t === 'reply' || f.t === 'error') as { t: string; id?: number; ok?: boolean; data?: any; error?: { code: string } }[];
    };
    // {id, type: "post", text: "x" <bad> "y"}
    const post = async (id: number, bad: string) => {
      const text = `78${bad}79`;
      const [r] = await send(`83${str('id')}${id.toString(16).padStart(2, '0')}${str('type')}${str('post')}${str('text')}${(0xa0 | (text.length / 2)).toString(16)}${text}`);
      return [...(r!.data.post.text as string)].map((ch) => ch.codePointAt(0)!.toString(16));
    };
    expect(await post(1, 'ff')).toEqual(['78', 'fffd', '79']);
    expect(await post(2, 'e282')).toEqual(['78', 'fffd', '79']);
    expect(await post(3, 'eda080')).toEqual(['78', 'fffd', 'fffd', 'fffd', '79']);
    expect(await post(4, 'c080')).toEqual(['78', 'fffd', 'fffd', '79']);
    expect(await post(5, 'f4908080')).toEqual(['78', 'fffd', 'fffd', 'fffd', 'fffd', '79']);

    // {id: 6, type: "$ping", id: 7}: the last id is the one echoed
    const [twice] = await send(`83${str('id')}06${str('type')}${str('$ping')}${str('id')}07`);
    expect(twice).toMatchObject({ t: 'reply', id: 7, ok: true });

    const ping = (id: number) => `82${str('id')}${id.toString(16).padStart(2, '0')}${str('type')}${str('$ping')}`;
    const [two] = await send(ping(8) + ping(9));
    expect(two).toMatchObject({ t: 'error', error: { code: 'E_BAD_FRAME' } });
    const [empty] = await send('');
    expect(empty).toMatchObject({ t: 'error', error: { code: 'E_BAD_FRAME' } });
    // 0xC1, which msgpack never uses: the frame itself is no frame; a value of it is a command's own
    const [never] = await send('c1');
    expect(never).toMatchObject({ t: 'error', error: { code: 'E_BAD_FRAME' } });
    const [held] = await send(`83${str('id')}0a${str('type')}${str('$ping')}${str('x')}c1`);
    expect(held).toMatchObject({ t: 'reply', id: 10, ok: false, error: { code: 'E_BAD_COMMAND', message: expect.stringContaining('holds a C1Type at x;') } });

    const { seq } = await c.ok('$ping');
    expect((await c.ok('$since', { seq })).events).toEqual([]);
    for (const bad of [seq + 1, -1, 0.5]) expect([bad, (await c.send('$since', { seq: bad })).error?.code]).toEqual([bad, 'E_BAD_COMMAND']);
    c.close();
    });
  }, 30_000);
});

describe('POST /upgrade, as PROTOCOL.md takes it', () => {
  it('takes a release without hash (and view null), and refuses one whose hash does not match with E_RELEASE_HASH (HTTP 409); a pace is one of its two forms, alone', async () => {
    await served({}, async (server) => {
    const { buildRelease } = await import('../../src/release/build.ts');
    const built = await buildRelease(2);
    const post = (body: unknown) =>
      fetch(`${server.operatorUrl}/upgrade`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const wrong = await post({ release: { code: built.code, view: built.view, hash: '0'.repeat(64) }, dryRun: true });
    expect(wrong.status).toBe(409);
    expect(await wrong.json()).toMatchObject({ result: 'refused', error: { code: 'E_RELEASE_HASH' }, failedAt: 'begin' });
    const empty = await post({ release: { code: built.code, view: built.view, hash: '' }, dryRun: true }); // given, so checked
    expect([empty.status, (await empty.json()).error?.code]).toEqual([409, 'E_RELEASE_HASH']);
    const bare = await post({ release: { code: built.code, view: null }, dryRun: true });
    expect(bare.status).toBe(200);
    expect(await bare.json()).toMatchObject({ result: 'dry-run', to: { version: 2 } });
    expect(server.kernel.release).not.toBe(built.hash); // a dry run changed nothing
    // a pace is one of its two forms, alone: both, another field or null is refused, never half read
    for (const pace of [{ perSecond: 10, share: 0.5 }, { perSecond: -1, share: 0.5 }, { share: 0.5, slow: true }, null, []]) {
      const r = await post({ release: { code: built.code }, dryRun: true, pace });
      expect([pace, r.status, (await r.json()).error?.code]).toEqual([pace, 400, 'E_BAD_REQUEST']);
    }
    expect((await post({ release: { code: built.code }, dryRun: true, pace: { share: 0.5 } })).status).toBe(200);
    });
  }, 60_000);
});

describe("the operator API's bodies, as PROTOCOL.md takes them", () => {
  it('refuses a body that is JSON but not an object (null, an array, a number) with 400 E_BAD_REQUEST on every POST route, before it runs', async () => {
    await served({}, async (server) => {
      for (const route of ['/upgrade', '/rollback', '/cutover', '/abort', '/permanent']) {
        for (const body of ['null', '[]', '5']) {
          const r = await fetch(`${server.operatorUrl}${route}`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body });
          expect([route, body, r.status, (await r.json()).error?.code]).toEqual([route, body, 400, 'E_BAD_REQUEST']);
        }
      }
      // no body at all is none: the route runs (nothing to roll back, nothing held)
      const none = await fetch(`${server.operatorUrl}/abort`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
      expect([none.status, (await none.json()).error?.code]).toEqual([409, 'E_NOT_HELD']);
    });
  }, 30_000);
});

describe('a same-version release, as PROTOCOL.md checks it', () => {
  it('is refused E_SHADOW in load (its refused frame alone) when it would take the browser view away; force: true lets it through and the report says what was skipped', async () => {
    await served({}, async (server) => {
      const { buildRelease } = await import('../../src/release/build.ts');
      const c = await TestClient.open(server.wsUrl);
      const built = await buildRelease(1);
      const call = (body: unknown) =>
        fetch(`${server.operatorUrl}/upgrade`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => [r.status, await r.json()] as const);
      const [status, refused] = await call({ release: { code: built.code, view: null } });
      expect([status, refused.error.code, refused.failedAt]).toEqual([409, 'E_SHADOW', 'load']);
      await c.waitFor((f) => f.t === 'upgrade' && f.upgrade === refused.upgrade && f.phase === 'refused');
      expect(c.frames.filter((f) => f.t === 'upgrade').map((f) => (f as UpgradeFrame).phase)).toEqual(['refused']);
      const [forcedStatus, forced] = await call({ release: { code: built.code, view: null }, force: true });
      expect([forcedStatus, forced.result, forced.skipped]).toEqual([200, 'committed', [expect.stringMatching(/^same-version check: it has no browser view/)]]);
      const committed = (await c.waitFor((f) => f.t === 'upgrade' && f.upgrade === forced.upgrade && f.phase === 'committed')) as UpgradeFrame;
      expect(committed.hello).toMatchObject({ version: 1, view: null });
      c.close();
    });
  }, 60_000);
});

describe('POST /rollback, as PROTOCOL.md takes it', () => {
  it('goes back through the pushes not yet rolled back, then E_NO_PREVIOUS: a rollback is not undone by the next; replay with no window open is E_NO_PREVIOUS too', async () => {
    await served({}, async (server) => {
      const { buildRelease } = await import('../../src/release/build.ts');
      const built = await buildRelease(2);
      const call = (route: string, body: unknown) =>
        fetch(`${server.operatorUrl}${route}`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => [r.status, await r.json()] as const);
      const outcome = ([status, r]: readonly [number, any]) => [status, r.result, r.from.version, r.to.version, r.error?.code ?? null];
      expect(outcome(await call('/upgrade', { release: { code: built.code, view: built.view } }))).toEqual([200, 'committed', 1, 2, null]);
      expect(outcome(await call('/rollback', {}))).toEqual([200, 'committed', 2, 1, null]);
      expect(outcome(await call('/rollback', {}))).toEqual([409, 'refused', 1, 1, 'E_NO_PREVIOUS']); // not back to v2
      expect(outcome(await call('/rollback', { replay: true }))).toEqual([409, 'refused', 1, 1, 'E_NO_PREVIOUS']); // a rollback opens no window
    });
  }, 60_000);
});

describe('requests that cannot be read, as PROTOCOL.md answers them', () => {
  it('answers an HTTP/1.1 request without Host with 400 E_BAD_REQUEST in the usual shape and headers, on both listeners (whose every answer has them); serves HTTP/1.0; refuses an HTTP/2 preface', async () => {
    const server = await startServer(SERVED);
    const { connect } = await import('node:net');
    const send = (url: string, request: string) =>
      new Promise<{ status: number; headers: string; body: string }>((resolve, reject) => {
        const u = new URL(url);
        const socket = connect(Number(u.port), u.hostname);
        let out = '';
        socket.on('data', (d) => (out += d));
        socket.on('error', reject);
        socket.on('close', () => {
          const [head = '', body = ''] = out.split('\r\n\r\n');
          resolve({ status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body });
        });
        socket.write(request);
      });
    try {
      for (const url of [server.url, server.operatorUrl]) {
        const r = await send(url, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
        expect(r.status).toBe(400);
        expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'E_BAD_REQUEST', message: expect.stringContaining('Host') } });
        expect(r.headers).toContain('x-frame-options: deny');
        expect(r.headers).toContain('x-content-type-options: nosniff');
      }
      // the operator API's other answers carry the same headers: its 401, its 404, its 200
      for (const [path, auth] of [['/status', false], ['/nope', true], ['/status', true]] as const) {
        const r = await fetch(`${server.operatorUrl}${path}`, auth ? { headers: { Authorization: `Bearer ${TOKEN}` } } : {});
        expect([path, r.status, r.headers.get('x-frame-options'), r.headers.get('x-content-type-options'), r.headers.get('referrer-policy')]).toEqual([path, auth ? (path === '/nope' ? 404 : 200) : 401, 'DENY', 'nosniff', 'same-origin']);
      }
      const old = await send(server.url, 'GET /health HTTP/1.0\r\n\r\n');
      expect(old.status).toBe(200);
      expect(JSON.parse(old.body)).toMatchObject({ ok: true, version: 1 });
      const h2 = await send(server.url, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      expect(h2.status).toBe(400);
      expect(JSON.parse(h2.body)).toMatchObject({ error: { code: 'E_BAD_REQUEST' } });
    } finally {
      await server.close();
    }
  }, 30_000);
});

describe('nil for an optional field, as FEED.md reads it', () => {
  it('reads nil as left out for replyTo and before only; elsewhere it is a value of the wrong type', async () => {
    await served({ boot: 3 }, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'eve' });
    const { post } = await c.ok('post', { text: 'top', replyTo: null });
    expect(post.replyTo).toBeNull();
    for (const type of ['timeline', 'home', 'notifications']) expect([type, (await c.send(type, { before: null })).ok]).toEqual([type, true]);
    expect((await c.ok('timeline', { before: null })).posts[0].id).toBe(post.id);
    for (const type of ['timeline', 'home', 'notifications']) expect([type, (await c.send(type, { limit: null })).error?.code]).toEqual([type, 'bad_limit']);
    expect((await c.send('update_profile', { name: null })).error?.code).toBe('bad_request');
    expect((await c.send('update_profile', { bio: null })).error?.code).toBe('bad_request');
    expect((await c.send('profile', { user: null, handle: 'eve' })).error?.code).toBe('no_such_user');
    expect((await c.send('leave', { token: null })).error?.code).toBe('bad_request');
    c.close();
    });
  }, 30_000);
});

describe('names and bios, as FEED.md counts them', () => {
  it('counts code points after trimming; a name refuses \\n and \\r only; a bio takes line breaks and may be empty', async () => {
    await served({ boot: 3 }, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'fay' });
    const name = async (n: string) => {
      const r = await c.send('update_profile', { name: n });
      return r.ok ? r.data.user.name : r.error!.code;
    };
    expect(await name(` ${'😀'.repeat(50)} `)).toBe('😀'.repeat(50));
    expect(await name('😀'.repeat(51))).toBe('bad_name');
    expect(await name('a\nb')).toBe('bad_name');
    expect(await name('a\rb')).toBe('bad_name');
    expect(await name('a\u2028b')).toBe('a\u2028b');
    expect(await name('a\tb')).toBe('a\tb');
    const bio = async (b: string) => {
      const r = await c.send('update_profile', { bio: b });
      return r.ok ? r.data.user.bio : r.error!.code;
    };
    expect(await bio('one\ntwo')).toBe('one\ntwo');
    expect(await bio('😀'.repeat(160))).toBe('😀'.repeat(160));
    expect(await bio('😀'.repeat(161))).toBe('bad_bio');
    expect(await bio('   ')).toBe('');
    c.close();
    });
  }, 30_000);
});

describe('what a text means, as FEED.md splits it', () => {
  it('takes only ASCII letters, digits and _ as the characters a mention or tag may not touch; an @ may follow a tag, not a mention', async () => {
    await served({ boot: 3 }, async (server) => {
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'gil' });
    const bob = await TestClient.open(server.wsUrl);
    await bob.ok('join', { handle: 'bob' });
    const read = async (text: string) => {
      const { post } = await c.ok('post', { text });
      return [post.mentions.map((m: { handle: string }) => m.handle), post.tags];
    };
    expect(await read('é@bob')).toEqual([['bob'], []]);
    expect(await read('@bobé')).toEqual([['bob'], []]);
    expect(await read('#tagé')).toEqual([[], ['tag']]);
    expect(await read('x@bob #42 a#tag me@bob.com')).toEqual([[], []]);
    expect(await read('#molt@bob @bob@x')).toEqual([[], ['molt']]); // an @ may follow a tag, not a mention
    c.close();
    bob.close();
    });
  }, 30_000);
});

describe('a stopping server, as PROTOCOL.md says it answers', () => {
  it("answers /readyz with 503 {ok: false, reason: 'stopping'} and a new WebSocket with 503 E_SHUTTING_DOWN while commands drain, never fastify's own 503 body", async () => {
    const server = await startServer(SERVED);
    const { default: WebSocket } = await import('ws');
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'hal' });
    for (let i = 0; i < 2000; i++) void c.send('post', { text: `p${i}` });
    await new Promise((r) => setTimeout(r, 2));
    const closing = server.close();
    const refused = await new Promise<[number, unknown]>((resolve, reject) => {
      const ws = new WebSocket(server.wsUrl);
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve([res.statusCode ?? 0, JSON.parse(body)]));
      });
      ws.on('open', () => reject(new Error('a new WebSocket opened on a stopping server')));
      ws.on('error', () => {});
    });
    expect(refused).toEqual([503, { error: { code: 'E_SHUTTING_DOWN', message: expect.any(String) } }]);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ok: false, reason: 'stopping' });
    await closing;
    expect(c.closed).toEqual({ code: 1001, reason: 'server shutting down' });
  }, 30_000);
});

describe("a WebSocket handshake's extensions header, as PROTOCOL.md reads it", () => {
  it('refuses a broken Sec-WebSocket-Extensions with 400 E_BAD_REQUEST in the usual shape (ws reads it only when it offers an extension, and molt offers none); a well-formed one, as browsers send, opens; a broken one with POST is still 404', async () => {
    await served({}, async (server) => {
      const { connect } = await import('node:net');
      const u = new URL(server.url);
      const handshake = (method: string, extensions: string) =>
        new Promise<{ status: number; headers: string; body: string }>((resolve, reject) => {
          const socket = connect(Number(u.port), u.hostname);
          let out = '';
          socket.on('data', (d) => {
            out += d.toString('latin1');
            if (out.startsWith('HTTP/1.1 101')) socket.destroy(); // opened: the hello follows
          });
          socket.on('error', reject);
          socket.on('close', () => {
            const [head = '', body = ''] = out.split('\r\n\r\n');
            resolve({ status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body });
          });
          socket.write(
            `${method} /ws HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${extensions}\r\n\r\n`,
          );
        });
      for (const broken of ['permessage-deflate; =x', 'a,,b', 'permessage-deflate;', 'a; b="c d"', 'a b']) {
        const r = await handshake('GET', broken);
        expect([broken, r.status]).toEqual([broken, 400]);
        expect(JSON.parse(r.body)).toEqual({ error: { code: 'E_BAD_REQUEST', message: 'the request cannot be read: Invalid Sec-WebSocket-Extensions header' } });
        expect(r.headers).toContain('x-content-type-options: nosniff');
      }
      for (const good of ['permessage-deflate; client_max_window_bits', 'permessage-deflate; client_max_window_bits=15, x-webkit-deflate-frame', 'x; y="z"'])
        expect([good, (await handshake('GET', good)).status]).toEqual([good, 101]);
      const posted = await handshake('POST', 'a,,b');
      expect([posted.status, JSON.parse(posted.body).error.code]).toEqual([404, 'E_NOT_FOUND']);
    });
  }, 30_000);
});

describe('a migration of whole-state steps, as PROTOCOL.md runs it', () => {
  it('is rehearsed whole in validate: its one migrate frame has no progress, and a step that throws is refused in validate, online false', async () => {
    await served({}, async (server) => {
      const { buildRelease } = await import('../../src/release/build.ts');
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'wes' });
      for (let i = 0; i < 4; i++) await c.ok('post', { text: `p${i}` });
      const built = await buildRelease('examples/broken-throws'); // one whole-state step 1->2 that throws
      const r = await fetch(`${server.operatorUrl}/upgrade`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ release: { code: built.code, view: built.view } }) });
      const report = await r.json();
      expect([r.status, report.result, report.online, report.failedAt, report.error.code]).toEqual([409, 'refused', false, 'validate', 'E_MIGRATION_THREW']);
      await c.waitFor((f) => f.t === 'upgrade' && f.upgrade === report.upgrade && f.phase === 'refused');
      const frames = c.frames.filter((f): f is UpgradeFrame => f.t === 'upgrade' && f.upgrade === report.upgrade);
      expect(frames.map((f) => f.phase)).toEqual(['begin', 'load', 'migrate', 'refused']);
      expect((frames[2]!.detail as any).progress).toMatchObject({ kinds: {}, done: 0, total: 0 });
      expect(frames[3]!.detail).toMatchObject({ phase: 'validate', error: { code: 'E_MIGRATION_THREW' } });
      expect((await c.ok('$ping')).version).toBe(1);
      c.close();
    });
  }, 60_000);
});

describe("msgpackr's structured clone, as PROTOCOL.md reads it", () => {
  it('reads a frame that names a value with 0x69 out of step: an error frame E_BAD_FRAME with no id, nothing applied; 0x69 or 0x70 alone where a value goes is E_BAD_COMMAND naming MsgpackExtension', async () => {
    await served({}, async (server) => {
      const { Packr } = await import('msgpackr');
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: 'sca' });
      const shared = { a: 1 };
      const before = c.frames.length;
      // msgpackr writes {id, type, text, x: <0x69 id 1> {a: 1}, y: <0x70 id 1>}
      c.socket.send(new Packr({ structuredClone: true, useRecords: false }).pack({ id: 1, type: 'post', text: 'cloned', x: shared, y: shared }));
      const pointer = Buffer.concat([new Packr({ useRecords: false }).pack({ id: 2, type: 'post', text: 'pointer', x: null }).subarray(0, -1), Buffer.from([0xd6, 0x70, 0, 0, 0, 1])]);
      c.socket.send(pointer);
      await c.waitFor(() => c.frames.slice(before).filter((f) => f.t === 'reply' || f.t === 'error').length >= 2);
      const [cloned, alone] = c.frames.slice(before).filter((f) => f.t === 'reply' || f.t === 'error');
      expect(cloned).toEqual({ t: 'error', error: { code: 'E_BAD_FRAME', message: expect.any(String) } });
      expect(alone).toMatchObject({ t: 'reply', id: 2, ok: false, error: { code: 'E_BAD_COMMAND', message: expect.stringContaining('a MsgpackExtension at x') } });
      expect((await c.ok('timeline')).posts).toEqual([]);
      c.close();
    });
  }, 30_000);
});

describe('extension types msgpackr does not decode, as PROTOCOL.md names them', () => {
  it('refuses a command holding extension 0x52 (msgpackr has no decoder of it) with E_BAD_COMMAND naming MsgpackExtension, as any other unknown type, not as an unreadable frame; a type msgpackr reads with the value after it (0x73, a Set) sent with its value inside is read out of step', async () => {
    await served({}, async (server) => {
      const c = await TestClient.open(server.wsUrl);
      const str = (s: string) => Buffer.concat([Buffer.of(0xa0 | s.length), Buffer.from(s)]).toString('hex');
      // {id, type: "$ping", x: <ext>, z: 1}
      const frame = (id: number, ext: string) => Buffer.from(`84${str('id')}${id.toString(16).padStart(2, '0')}${str('type')}${str('$ping')}${str('x')}${ext}${str('z')}01`, 'hex');
      const sent = [frame(1, 'd45200'), frame(2, 'c708520102030405060708'), frame(3, 'd40500'), frame(4, 'd47300')];
      const before = c.frames.length;
      for (const f of sent) c.socket.send(f);
      await c.waitFor(() => c.frames.slice(before).filter((f) => f.t === 'reply' || f.t === 'error').length >= sent.length);
      const got = c.frames.slice(before).filter((f) => f.t === 'reply' || f.t === 'error');
      for (const id of [1, 2, 3]) expect(got[id - 1]).toMatchObject({ t: 'reply', id, ok: false, error: { code: 'E_BAD_COMMAND', message: expect.stringContaining('holds a MsgpackExtension at x;') } });
      expect(got[3]).toMatchObject({ t: 'error', error: { code: 'E_BAD_FRAME' } });
      c.close();
    });
  }, 30_000);
});

describe("the headers of every answer, as PROTOCOL.md lists them", () => {
  it("gives a WebSocket handshake's 101 nosniff, DENY and same-origin too", async () => {
    await served({}, async (server) => {
      const { default: WebSocket } = await import('ws');
      const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
        const ws = new WebSocket(server.wsUrl);
        ws.on('upgrade', (res) => resolve(res.headers));
        ws.on('error', reject);
        ws.on('open', () => ws.close());
      });
      expect(headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'same-origin' });
    });
  }, 30_000);
});
