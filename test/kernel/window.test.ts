/**
 * The reversible window: after a push commits, a rollback restores the state at its cut-over and
 * replays every write since through the previous version, so nothing written since is lost even for a
 * step that has no down. Writes the previous version refuses are casualties, shown by a dry run and
 * accepted like any loss. `permanent` (or a bound) closes the window; rollback then needs down.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import type { ReleaseSource } from '../../src/kernel/release.ts';
import { TempReleases, abs, patchedVersion, slowVersion } from '../support/releases.ts';
import { buildRelease } from '../../src/release/build.ts';
import { framesTo } from '../../src/transport/frames.ts';
import v8 from 'node:v8';
import vm from 'node:vm';

const releases = new TempReleases();
let v1: ReleaseSource;
let oneWay: ReleaseSource;
const kernels: Kernel[] = [];
beforeAll(async () => {
  v1 = await releases.real(1);
  // feed v2 whose step 1 -> 2 has no down: irreversible
  oneWay = await releases.build(2, `import { v1ToV2 } from ${abs('migrations/001-v1-to-v2.ts')};\nexport const migrations = [{ from: 1, to: 2, shapes: v1ToV2.shapes, up: v1ToV2.up }];\n`);
}, 60_000);
afterAll(() => releases.remove());
afterEach(() => {
  for (const k of kernels.splice(0)) k.close();
});

async function pushed(limits = {}) {
  const kernel = new Kernel(v1, { limits });
  kernels.push(kernel);
  const conn = kernel.connect(framesTo(() => {}));
  const me = (await kernel.dispatch(conn, { type: 'join', handle: 'ada' })) as { data: { user: { id: string }; token: string } };
  await kernel.dispatch(conn, { type: 'post', text: 'before the upgrade' });
  const report = await kernel.upgrade(oneWay);
  expect(report.result).toBe('committed');
  return { kernel, conn, me: me.data };
}

/** A kernel on v1 that was pushed the release built from `dir` (a patched v1: support/releases.ts), with ada joined. */
async function running(dir: string) {
  const built = await buildRelease(dir);
  const kernel = new Kernel(v1);
  kernels.push(kernel);
  const conn = kernel.connect(framesTo(() => {}));
  await kernel.dispatch(conn, { type: 'join', handle: 'ada' });
  expect((await kernel.upgrade({ code: built.code, view: built.view, hash: built.hash }, { force: true })).result).toBe('committed');
  return { kernel, conn };
}

const texts = async (kernel: Kernel, conn: ReturnType<Kernel['connect']>) =>
  (((await kernel.dispatch(conn, { type: 'timeline', limit: 50 })) as { data: { posts: { text: string }[] } }).data.posts).map((p) => p.text);

describe('the reversible window', () => {
  it('rolls back an irreversible step with every post written since, and counts what v1 cannot take', async () => {
    const { kernel, conn } = await pushed();
    expect(kernel.status().window).toMatchObject({ back: { version: 1 }, writes: 0 });
    const other = kernel.connect(framesTo(() => {}));
    await kernel.dispatch(other, { type: 'join', handle: 'bob' }); // a new user, after the upgrade
    for (const text of ['after one', 'after two']) await kernel.dispatch(conn, { type: 'post', text });
    const [target] = ((await kernel.dispatch(conn, { type: 'timeline' })) as { data: { posts: { id: string }[] } }).data.posts;
    await kernel.dispatch(other, { type: 'react', post: target!.id, emoji: '😂' }); // v1 has no react
    await kernel.dispatch(other, { type: 'like', post: target!.id }); // v2 still takes like: ❤️
    expect(kernel.status().window).toMatchObject({ writes: 5 }); // bob's join, two posts, a reaction, a like

    const dry = await kernel.rollback({ dryRun: true });
    expect(dry).toMatchObject({ result: 'dry-run', steps: [{ step: 'window' }], dropped: { commands: 1 }, casualties: [{ type: 'react', error: expect.stringMatching(/does not handle 'react'/) }] });
    expect(kernel.version).toBe(2);
    expect((await kernel.rollback()).error?.code).toBe('E_DROPS_NOT_ACCEPTED');
    const back = await kernel.rollback({ acceptDrops: dry.dropped });
    expect(back).toMatchObject({ result: 'committed', to: { version: 1 }, dropped: { commands: 1 } });
    expect(kernel.version).toBe(1);
    expect(await texts(kernel, conn)).toEqual(['after two', 'after one', 'before the upgrade']);
    const liked = (await kernel.dispatch(conn, { type: 'thread', post: target!.id })) as { data: { post: { likes: number } } };
    expect(liked.data.post.likes).toBe(1);
    // bob joined after the upgrade: still there, still signed in on his connection
    expect(await kernel.dispatch(other, { type: 'post', text: 'bob again' })).toMatchObject({ ok: true });
    expect(kernel.status().window).toBeNull();
  }, 60_000);

  it('a rollback whose down breaks on what the release did to the state says that --replay goes back without it', async () => {
    // v2 whose handler, from its second post on, commits a state with no posts (plain data: accepted)
    const folder = `${releases.dir}/wrecking-${Math.random().toString(36).slice(2)}`;
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const { buildRelease } = await import('../../src/release/build.ts');
    mkdirSync(folder, { recursive: true });
    writeFileSync(`${folder}/index.ts`, `import * as v2 from ${abs('src/feed/v2/index.ts')};
export const { version, commands, init, validate, census, sample } = v2;
let posts = 0;
export function handle(state, command, ctx) { const out = v2.handle(state, command, ctx); return command.type === 'post' && ++posts > 1 && 'state' in out ? { ...out, state: { ...out.state, posts: null } } : out; }
`);
    writeFileSync(`${folder}/view.ts`, `export { default } from ${abs('src/feed/v2/view.ts')};\n`);
    const built = await buildRelease(folder);
    const kernel = new Kernel(v1);
    kernels.push(kernel);
    const conn = kernel.connect(framesTo(() => {}));
    await kernel.dispatch(conn, { type: 'join', handle: 'wrecked' });
    await kernel.dispatch(conn, { type: 'post', text: 'before the upgrade' });
    expect((await kernel.upgrade({ code: built.code, view: built.view, hash: built.hash })).result).toBe('committed');
    for (const text of ['after one', 'after two']) expect((await kernel.dispatch(conn, { type: 'post', text })).ok).toBe(true);
    const refused = await kernel.rollback();
    expect(refused).toMatchObject({ result: 'refused', error: { code: 'E_MIGRATION_THREW', message: expect.stringMatching(/The reversible window of the last upgrade is open: `molt rollback --replay` goes back without this migration/) } });
    expect(await kernel.rollback({ replay: true })).toMatchObject({ result: 'committed', to: { version: 1 } });
    expect(await texts(kernel, conn)).toEqual(['after two', 'after one', 'before the upgrade']);
  }, 60_000);

  it('replays on request (--replay) even when every step has down', async () => {
    const v2 = await releases.real(2);
    const kernel = new Kernel(v1);
    kernels.push(kernel);
    const conn = kernel.connect(framesTo(() => {}));
    await kernel.dispatch(conn, { type: 'join', handle: 'eve' });
    expect((await kernel.upgrade(v2)).result).toBe('committed');
    await kernel.dispatch(conn, { type: 'post', text: 'on v2' });
    const down = await kernel.rollback({ dryRun: true });
    expect(down.steps).toEqual([{ step: '2->1', describe: expect.any(String) }]);
    const replayed = await kernel.rollback({ replay: true });
    expect(replayed).toMatchObject({ result: 'committed', steps: [{ step: 'window' }] });
    expect(await texts(kernel, conn)).toEqual(['on v2']);
  }, 60_000);

  it('writes made while the replay runs join it: paced, with posts coming in', async () => {
    const { kernel, conn } = await pushed();
    for (let i = 0; i < 300; i++) await kernel.dispatch(conn, { type: 'post', text: `early ${i}` });
    const rolling = kernel.rollback({ pace: { perSecond: 600 } });
    const during: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      during.push(kernel.dispatch(conn, { type: 'post', text: `during ${i}` }));
      await new Promise((r) => setTimeout(r, 15));
    }
    await Promise.all(during);
    expect((await rolling).result).toBe('committed');
    const all = ((await kernel.dispatch(conn, { type: 'timeline', limit: 50 })) as { data: { posts: { text: string }[] } }).data.posts.map((p) => p.text);
    expect(all.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => `during ${19 - i}`));
    expect(kernel.version).toBe(1);
  }, 60_000);

  it('a window that reaches its bound while the replay runs refuses the rollback: every write served meanwhile is kept', async () => {
    const { kernel, conn } = await pushed({ windowWrites: 300 });
    const acked: string[] = [];
    const post = async (text: string) => {
      const r = (await kernel.dispatch(conn, { type: 'post', text })) as { ok: boolean; data: { post: { id: string } } };
      if (r.ok) acked.push(r.data.post.id);
    };
    for (let i = 0; i < 250; i++) await post(`before ${i}`);
    let writing = true;
    const during = (async () => {
      for (let i = 0; writing; i++) {
        await post(`during ${i}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const report = await kernel.rollback({ replay: true, pace: { perSecond: 200 } });
    writing = false;
    await during;
    // the bound (300 writes) passed during the replay: the window closed and emptied, which is not "done"
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_NOT_HELD', message: expect.stringMatching(/closed \(writes\) during the rollback; nothing changed/) } });
    expect(kernel.version).toBe(2);
    for (const id of acked) expect(await kernel.dispatch(conn, { type: 'thread', post: id })).toMatchObject({ ok: true });
  }, 60_000);

  it('writes coming faster than the pace: the replay catches up with them at full speed and cuts over', async () => {
    const { kernel, conn } = await pushed();
    for (let i = 0; i < 100; i++) await kernel.dispatch(conn, { type: 'post', text: `early ${i}` });
    let writing = true;
    let n = 0;
    const during = (async () => {
      while (writing) {
        await kernel.dispatch(conn, { type: 'post', text: `during ${n++}` });
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    // 100 writes a second, fewer than come in: paced all the way, it would never end
    const report = await kernel.rollback({ replay: true, pace: { perSecond: 100 } });
    writing = false;
    await during;
    expect(report).toMatchObject({ result: 'committed' });
    expect(report.cutoverEntities).toBeGreaterThanOrEqual(0);
    expect(report.cutoverEntities).toBeLessThanOrEqual(256);
    expect(report.totalMs).toBeLessThan(30_000);
    expect(kernel.version).toBe(1);
    const all = await texts(kernel, conn);
    expect(all[0]).toBe(`during ${n - 1}`);
  }, 60_000);

  it('--replay --hold: replayed, then kept caught up with the writes until the cut-over the operator gives', async () => {
    const { kernel, conn } = await pushed();
    for (let i = 0; i < 50; i++) await kernel.dispatch(conn, { type: 'post', text: `early ${i}` });
    const rolling = kernel.rollback({ replay: true, hold: true });
    while (kernel.status().upgrade?.phase !== 'held') await new Promise((r) => setTimeout(r, 20));
    expect(kernel.version).toBe(2);
    for (let i = 0; i < 5; i++) expect(await kernel.dispatch(conn, { type: 'post', text: `while held ${i}` })).toMatchObject({ ok: true });
    await new Promise((r) => setTimeout(r, 1500));
    expect(kernel.version).toBe(2);
    kernel.cutover();
    expect((await rolling).result).toBe('committed');
    expect(kernel.version).toBe(1);
    expect((await texts(kernel, conn)).slice(0, 5)).toEqual([4, 3, 2, 1, 0].map((i) => `while held ${i}`));
  }, 60_000);

  it('writes as fast as they can be served: the replay ends within bounds, committed or refused, and keeps every write', async () => {
    // a window that holds a million writes: the rollback must end on its own, not by the window closing
    const { kernel, conn } = await pushed({ windowWrites: 1_000_000 });
    const acked: string[] = [];
    let writing = true;
    // four writers, each sending its next post as soon as the last is answered
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) {
        const r = (await kernel.dispatch(conn, { type: 'post', text: `w${w} ${i}` })) as { ok: boolean; data: { post: { id: string } } };
        if (r.ok) acked.push(r.data.post.id);
      }
    });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const report = await kernel.rollback({ replay: true, pace: { perSecond: 5000 } });
    writing = false;
    await Promise.all(writers);
    expect(performance.now() - t0).toBeLessThan(40_000);
    if (report.result === 'committed') expect(kernel.version).toBe(1);
    // refused with nothing changed: the rest would not replay within the cut-over's limit, or the
    // window reached its bound of writes meanwhile (it closes, and a rollback then needs down)
    else {
      expect(report.result).toBe('refused');
      expect(['E_CUTOVER', 'E_NOT_HELD']).toContain(report.error?.code);
      expect(kernel.version).toBe(2);
    }
    for (const id of acked.slice(-200)) expect(await kernel.dispatch(conn, { type: 'thread', post: id })).toMatchObject({ ok: true });
  }, 60_000);

  it('replays through a previous release slow on writes it never served live one write at a time: the feed waits a handler limit at most, not a slice of them', async () => {
    // v1 as released, except that its handler never returns on posts whose text starts with SLOW
    const slowDir = slowVersion('post', "typeof c.text === 'string' && c.text.startsWith('SLOW')");
    try {
      const { kernel, conn } = await running(slowDir.dir);
      expect((await kernel.upgrade(oneWay)).result).toBe('committed');
      // served by v2, fast; the release before it never saw them
      for (let i = 0; i < 12; i++) expect(await kernel.dispatch(conn, { type: 'post', text: `SLOW ${i}` })).toMatchObject({ ok: true });
      const report = await kernel.rollback({ replay: true, acceptDrops: { commands: 100 } });
      expect(report).toMatchObject({ result: 'committed', to: { version: 1 }, dropped: { commands: 12 } });
      expect(report.casualties[0]!.error).toMatch(/ran for more than 250 ms/);
      // twelve writes of 250 ms each in one slice held the feed for 3 s
      expect(report.loopDelayMs.max).toBeLessThan(1_500);
    } finally {
      slowDir.remove();
    }
  }, 60_000);

  it('replays each write with the checks a live command gets: a state that holds the one before twice, or grows past its bound, is a casualty, not committed', async () => {
    // v1 as released, except on the posts it never served live: TWICE keeps the state it was given
    // under a new key beside its own parts, BIG adds 5 MB
    const patched = patchedVersion(`const out = served(s, c, ctx);
  const text = typeof c.text === 'string' ? c.text : '';
  if ('state' in out && text.startsWith('TWICE')) return { ...out, state: { ...out.state, again: s } } as typeof out;
  if ('state' in out && text.startsWith('BIG')) return { ...out, state: { ...out.state, junk: 'x'.repeat(5 * 2 ** 20) } } as typeof out;
  return out;`);
    try {
      const { kernel, conn } = await running(patched.dir);
      // what live v1 does with them: refused
      expect(await kernel.dispatch(conn, { type: 'post', text: 'TWICE live' })).toMatchObject({ ok: false, error: { code: 'E_HANDLER_CONTRACT', message: expect.stringMatching(/in two places/) } });
      expect(await kernel.dispatch(conn, { type: 'post', text: 'BIG live' })).toMatchObject({ ok: false, error: { code: 'E_TOO_LARGE' } });
      expect((await kernel.upgrade(oneWay)).result).toBe('committed');
      for (let i = 0; i < 8; i++) expect(await kernel.dispatch(conn, { type: 'post', text: `TWICE ${i}` })).toMatchObject({ ok: true });
      expect(await kernel.dispatch(conn, { type: 'post', text: 'BIG 0' })).toMatchObject({ ok: true });
      expect(await kernel.dispatch(conn, { type: 'post', text: 'kept' })).toMatchObject({ ok: true });
      const report = await kernel.rollback({ replay: true, acceptDrops: { commands: 100 } });
      expect(report).toMatchObject({ result: 'committed', to: { version: 1 }, dropped: { commands: 9 } });
      expect(report.casualties.map((c) => c.error.split(':')[0])).toEqual([...Array(8).fill('E_HANDLER_CONTRACT'), 'E_TOO_LARGE']);
      // the state committed is what live v1 would have built: the other write, and nothing twice
      expect(await texts(kernel, conn)).toEqual(['kept']);
      expect(Object.keys(kernel.state as object)).not.toContain('again');
      expect(Object.keys(kernel.state as object)).not.toContain('junk');
    } finally {
      patched.remove();
    }
  }, 60_000);

  it('keeps what a casualty says as a string of its own: a previous release refusing each replayed write with 16 MB of message does not keep 16 MB a casualty', async () => {
    // v1 as released, except that it refuses posts starting with PIN with a 16 MB message (a new one each)
    const patched = patchedVersion(`const text = typeof c.text === 'string' ? c.text : '';
  if (text.startsWith('PIN')) return { error: { code: 'no', message: 'x'.repeat(2 ** 24) + text } };
  return served(s, c, ctx);`);
    try {
      const { kernel, conn } = await running(patched.dir);
      expect((await kernel.upgrade(oneWay)).result).toBe('committed');
      for (let i = 0; i < 30; i++) expect(await kernel.dispatch(conn, { type: 'post', text: `PIN ${i}` })).toMatchObject({ ok: true });
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      gc();
      const before = process.memoryUsage().heapUsed;
      // a slice of each message kept it whole: 300 such writes killed the process (heap out of memory)
      const dry = await kernel.rollback({ replay: true, dryRun: true });
      expect(dry).toMatchObject({ result: 'dry-run', dropped: { commands: 30 } });
      expect(dry.casualties[0]!.error).toMatch(/^no: x{2000}$/);
      gc();
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 2 ** 20); // the report keeps 20: 320 MB before
    } finally {
      patched.remove();
    }
  }, 60_000);

  it("runs the census of either end, unrehearsed here, under the status census's limit: one that never returns holds the feed 2 s, not 30", async () => {
    // v1 whose census() never returns once its handler has met a post BOOM (which it meets only on replay)
    const boom = await releases.buildFrom(1, `import { handle as served, census as counted } from ${abs('src/feed/v1/index.ts')};
export * from ${abs('src/feed/v1/index.ts')};
let boom = false;
export const handle: typeof served = (s, c, ctx) => {
  if (c.type === 'post' && c.text === 'BOOM') boom = true;
  return served(s, c, ctx);
};
export const census: typeof counted = (s) => { if (boom) for (;;) {} return counted(s); };
`, `export { migrations } from ${abs('migrations/index.ts')};\n`);
    const kernel = new Kernel(v1);
    kernels.push(kernel);
    const conn = kernel.connect(framesTo(() => {}));
    await kernel.dispatch(conn, { type: 'join', handle: 'ada' });
    expect((await kernel.upgrade(boom, { force: true })).result).toBe('committed');
    expect((await kernel.upgrade(oneWay)).result).toBe('committed');
    expect(await kernel.dispatch(conn, { type: 'post', text: 'BOOM' })).toMatchObject({ ok: true });
    const state = kernel.state;
    const t0 = performance.now();
    const report = await kernel.rollback({ replay: true });
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_VALIDATE', message: expect.stringMatching(/census\(\) ran for more than 2000 ms/) } });
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(kernel.state).toBe(state);
    expect(kernel.version).toBe(2);
  }, 60_000);

  it('closes on molt permanent, on a bound, and then rollback needs down', async () => {
    const { kernel, conn } = await pushed({ windowWrites: 3 });
    expect(kernel.permanent()).toMatchObject({ upgrade: expect.any(String) });
    expect(kernel.status().window).toBeNull();
    expect((await kernel.rollback()).error).toMatchObject({ code: 'E_NO_DOWN' });
    expect(() => kernel.permanent()).toThrow(/already permanent/);
    // a bound: the fourth write closes a fresh window
    const again = await pushed({ windowWrites: 3 });
    for (let i = 0; i < 4; i++) await again.kernel.dispatch(again.conn, { type: 'post', text: `w${i}` });
    expect(again.kernel.status().window).toBeNull();
    void conn;
    // with no upgrade since boot there is nothing to make permanent, and it says so
    const fresh = new Kernel(v1);
    kernels.push(fresh);
    expect(() => fresh.permanent()).toThrow(expect.objectContaining({ code: 'E_NOT_HELD', message: 'no reversible window is open: nothing has been upgraded since the server started' }));
  }, 60_000);
});
