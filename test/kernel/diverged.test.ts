/**
 * What the two processes build is compared before anything commits. The rehearsal checks the state it
 * builds (validate(), the census, the declared changes); the live process builds its own, from the
 * same input with the same code, and commits that. A release whose code tells the two processes apart
 * (here: by the size of the first slice a step is asked to read, which differs between them) could
 * otherwise commit a state no check saw. Each is refused with E_DIVERGED, nothing changed, and the
 * feed serves on; an honest release commits.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import v8 from 'node:v8';
import { pack } from 'msgpackr';
import { Kernel } from '../../src/kernel/kernel.ts';
import type { ReleaseSource } from '../../src/kernel/release.ts';
import { TempReleases, abs } from '../support/releases.ts';
import { framesTo } from '../../src/transport/frames.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { buildV1 } from '../feed/build.ts';
import { tiny } from '../support/tiny.ts';
import { lateBeforeCutover } from '../support/cutover.ts';
import { collect } from '../../src/kernel/upgrade/collect.ts';
import { SRC, runScript } from '../support/child.ts';

const digest = (state: unknown) => createHash('sha256').update(pack(state)).digest('hex');
const releases = new TempReleases();
let r1: ReleaseSource;
let r2: ReleaseSource;
const kernels: Kernel[] = [];

beforeAll(async () => {
  [r1, r2] = await Promise.all([releases.real(1), releases.real(2)]);
}, 60_000);
afterAll(() => releases.remove());
afterEach(() => {
  for (const k of kernels.splice(0)) k.close();
});

/** Feed v2 with `body` as its migrations.ts, after imports of the real step (`up`) and the shapes. */
function v2Release(body: string): Promise<ReleaseSource> {
  return releases.build(2, `import { v1ToV2 } from ${abs('migrations/001-v1-to-v2.ts')};
import { v1Shape, v2Shape } from ${abs('src/feed/lib/shapes.ts')};
const up = v1ToV2.up;
${body}
`);
}

/**
 * Feed v2 whose 1 -> 2 step is the real one, except for `each` (posts) and `finish`, written with
 * `live()`: true in the live process only. The step reads posts through a collection that notes how
 * many posts the first slice asks for: the live process asks for a few hundred, the rehearsal for more.
 */
function telling(each: string, finish = 'up.finish'): Promise<ReleaseSource> {
  return v2Release(`const react = up.each.posts;
let firstMax = 0;
let finished = false;
const kept = [];
void kept;
const live = () => firstMax > 0 && firstMax <= 256;
const posts = { ...v1Shape.posts, read(c, cursor, max) { if (firstMax === 0) firstMax = max; return v1Shape.posts.read(c, cursor, max); } };
const finish = ${finish};
export const migrations = [{ ...v1ToV2, shapes: { from: { ...v1Shape, posts }, to: v2Shape }, up: { ...up, each: { posts: ${each} }, finish: (s, m, ctx) => { finished = true; return finish(s, m, ctx); } } }];
void finished;`);
}

function boot(posts = 4000) {
  const kernel = new Kernel(r1, { initialState: buildV1(posts, 50), limits: { rehearsalHeapMb: 512 } });
  kernels.push(kernel);
  const frames: ServerFrame[] = [];
  const conn = kernel.connect(framesTo((f) => frames.push(f)));
  return { kernel, conn, frames };
}

describe('the live process commits only a state the rehearsal built and checked too', () => {
  it('a step that rewrites every post only in the live process is refused, naming the posts', async () => {
    const { kernel, conn } = boot();
    const before = { digest: digest(kernel.state), state: kernel.state };
    const report = await kernel.upgrade(await telling(`(post, ctx) => (live() ? { ...react(post, ctx), text: post.text.toUpperCase() } : react(post, ctx))`));
    expect(report).toMatchObject({
      result: 'refused',
      error: { code: 'E_DIVERGED', message: expect.stringMatching(/built a different state than the rehearsal checked, in the posts that migration 1->2 mapped, from key 0 on \(entities 1 to 1,024 of the 3,963 it rewrote\).*nothing changed/) },
    });
    expect(kernel.state).toBe(before.state);
    expect(digest(kernel.state)).toBe(before.digest);
    expect(kernel.version).toBe(1);
    expect(await kernel.dispatch(conn, { type: 'timeline' })).toMatchObject({ ok: true });
    // the rehearsal is not left in a state that refuses the next, honest push
    expect((await kernel.upgrade(r2)).result).toBe('committed');
  }, 60_000);

  it('one post out of thousands, deep in the pass: the block it is in is named', async () => {
    const { kernel } = boot();
    const before = digest(kernel.state);
    const report = await kernel.upgrade(await telling(`(post, ctx) => (live() && post.id === 'p2yo' ? { ...react(post, ctx), at: post.at + 1 } : react(post, ctx))`));
    // p2yo is post 3,840 (base 36), in slot 3,839; some posts before it are deleted (not rewritten)
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_DIVERGED', message: expect.stringMatching(/from key \d+ on \(entities 3,073 to 3,963 of the 3,963 it rewrote\)/) } });
    expect(digest(kernel.state)).toBe(before);
  }, 60_000);

  it('what finish builds around the collections is compared too', async () => {
    const { kernel } = boot();
    const before = digest(kernel.state);
    const report = await kernel.upgrade(await telling('react', `(s, m, ctx) => { const out = up.finish(s, m, ctx); return live() ? { ...out, state: { ...out.state, count: { ...out.state.count, posts: out.state.count.posts + 1 } } } : out; }`));
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_DIVERGED', message: expect.stringMatching(/in what the last step built around its collections \(finish\)/) } });
    expect(digest(kernel.state)).toBe(before);
  }, 60_000);

  it('a post re-migrated in a catch-up round is compared: a write during the migration, mapped otherwise here', async () => {
    const { kernel, conn, frames } = boot();
    await kernel.dispatch(conn, { type: 'join', handle: 'liker' });
    const release = await telling(`(post, ctx) => (live() && finished ? { ...react(post, ctx), text: 'changed in the live process only' } : react(post, ctx))`);
    const pending = kernel.upgrade(release, { pace: { perSecond: 4000 } });
    while (!frames.some((f) => f.t === 'upgrade' && f.phase === 'migrate' && ((f.detail as { progress?: { done: number } })?.progress?.done ?? 0) > 500)) await new Promise((r) => setTimeout(r, 20));
    const before = digest(kernel.state);
    expect(await kernel.dispatch(conn, { type: 'like', post: 'p1' })).toMatchObject({ ok: true });
    const after = kernel.state;
    const report = await pending;
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_DIVERGED', message: expect.stringMatching(/the posts that migration 1->2 mapped in a catch-up round/) } });
    expect(before).not.toBe(digest(after));
    // the like is kept: only the upgrade was refused
    expect(kernel.state).toBe(after);
    expect(kernel.version).toBe(1);
  }, 60_000);

  it('an honest push and its rollback compare equal at every step and commit', async () => {
    const { kernel, conn, frames } = boot();
    await kernel.dispatch(conn, { type: 'join', handle: 'writer' });
    const pending = kernel.upgrade(r2, { pace: { perSecond: 4000 } });
    while (!frames.some((f) => f.t === 'upgrade' && f.phase === 'migrate' && ((f.detail as { progress?: { done: number } })?.progress?.done ?? 0) > 500)) await new Promise((r) => setTimeout(r, 20));
    for (const post of ['p1', 'p2yo', 'p1k']) expect(await kernel.dispatch(conn, { type: 'like', post })).toMatchObject({ ok: true });
    expect(await kernel.dispatch(conn, { type: 'post', text: 'written during the migration' })).toMatchObject({ ok: true });
    // a like taken back: the post is a new object with the same content (the rehearsal's copy of the
    // state must see it as new too, or the two processes re-migrate different posts in the round)
    expect(await kernel.dispatch(conn, { type: 'unlike', post: 'p1k' })).toMatchObject({ ok: true });
    const report = await pending;
    expect(report).toMatchObject({ result: 'committed' });
    expect(report.rounds).toBeGreaterThanOrEqual(1);
    expect((await kernel.rollback({ acceptDrops: { reactions: 1e9 } })).result).toBe('committed');
    expect(kernel.version).toBe(1);
  }, 60_000);

  it('a whole-state step, run in the cut-over, is compared with its rehearsal there', async () => {
    // whole() returns something else the first time a process calls it: the rehearsal calls it twice
    // (the first check, then again on the final state at the cut-over), this process once
    const kernel = new Kernel(tiny(), { limits: { rehearsalHeapMb: 96 } });
    kernels.push(kernel);
    const conn = kernel.connect(framesTo(() => {}));
    for (let i = 0; i < 3; i++) await kernel.dispatch(conn, { type: 'inc' });
    const before = { state: kernel.state, digest: digest(kernel.state) };
    const once = tiny({ version: 2, prelude: 'let calls = 0;', migrations: `{ from: 1, to: 2, describe: 'count becomes total', up: (s) => { calls++; return { state: calls === 1 ? { total: s.count, note: 'first call only' } : { total: s.count } }; } }` });
    const report = await kernel.upgrade(once);
    expect(report).toMatchObject({ online: false, result: 'refused', error: { code: 'E_DIVERGED', message: expect.stringMatching(/in what the last step built around its collections/) } });
    expect(kernel.state).toBe(before.state);
    expect(digest(kernel.state)).toBe(before.digest);
    expect(await kernel.dispatch(conn, { type: 'inc' })).toMatchObject({ ok: true, data: { value: 4 } });
  }, 60_000);

  it("posts written across the vector's root split during the migration: the rehearsal re-migrates more, and it still commits", async () => {
    // 1,020 posts: ten more cross 1,024, where the posts vector gets a new root over the old one. The
    // rehearsal's copy of the state then gets a whole subtree set anew, and its catch-up round
    // re-migrates every post in it, where this process re-migrates only the new ones
    const { kernel, conn, frames } = boot(1020);
    await kernel.dispatch(conn, { type: 'join', handle: 'writer' });
    const pending = kernel.upgrade(r2, { pace: { perSecond: 2000 } });
    while (!frames.some((f) => f.t === 'upgrade' && f.phase === 'migrate' && ((f.detail as { progress?: { done: number } })?.progress?.done ?? 0) > 100)) await new Promise((r) => setTimeout(r, 20));
    const written = await Promise.all(Array.from({ length: 10 }, (_, i) => kernel.dispatch(conn, { type: 'post', text: `across the split ${i}` })));
    for (const w of written) expect(w).toMatchObject({ ok: true });
    const report = await pending;
    expect(report).toMatchObject({ result: 'committed' });
    expect(report.cutoverEntities + report.rounds).toBeGreaterThan(0);
    const timeline = (await kernel.dispatch(conn, { type: 'timeline' })) as { ok: boolean; data: { posts: { text: string }[] } };
    expect(timeline.data.posts.map((p) => p.text)).toContain('across the split 9');
  }, 60_000);

  it('a step that allocates only in the live process is refused once this heap outgrows the rehearsal\'s, long before the mark', async () => {
    // the high-water mark at least 600 MB above what the heap holds now; each post mapped here keeps
    // 256 KB (a slice of them stays well within the 2 s a call may take here, on a busy machine too: at
    // 1 MB a post, the first slice of 256 posts ran past it under a full test run, refused for time)
    const heap = v8.getHeapStatistics();
    const percent = Math.ceil(((heap.used_heap_size + 600 * 2 ** 20) / heap.heap_size_limit) * 100);
    const kernel = new Kernel(r1, { initialState: buildV1(4000, 50), limits: { rehearsalHeapMb: 512, heapHighWaterPercent: percent } });
    kernels.push(kernel);
    const conn = kernel.connect(framesTo(() => {}));
    const before = digest(kernel.state);
    const hoard = await telling(`(post, ctx) => { if (live()) kept.push(new Array(1 << 15).fill(post.at)); return react(post, ctx); }`);
    const t0 = performance.now();
    const report = await kernel.upgrade(hoard);
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_MEMORY', message: expect.stringMatching(/the live process's heap and buffers grew by \d+ MB while it built what grew the rehearsal's by \d+ MB/) } });
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(digest(kernel.state)).toBe(before);
    expect(await kernel.dispatch(conn, { type: 'timeline' })).toMatchObject({ ok: true });
  }, 60_000);

  it('a step that keeps typed arrays only in the live process is refused the same way: their bytes outside the heap count', async () => {
    const heap = v8.getHeapStatistics();
    const percent = Math.ceil(((heap.used_heap_size + heap.external_memory + 600 * 2 ** 20) / heap.heap_size_limit) * 100);
    const kernel = new Kernel(r1, { initialState: buildV1(4000, 50), limits: { rehearsalHeapMb: 512, heapHighWaterPercent: percent } });
    kernels.push(kernel);
    const conn = kernel.connect(framesTo(() => {}));
    const before = digest(kernel.state);
    // 256 KB a post mapped here, none in the rehearsal: 1 GB by the last post, with the heap unmoved
    const hoard = await telling(`(post, ctx) => { if (live()) kept.push(new Float64Array(1 << 15).fill(post.at)); return react(post, ctx); }`);
    const report = await kernel.upgrade(hoard);
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_MEMORY', message: expect.stringMatching(/the live process's heap and buffers grew by \d+ MB while it built what grew the rehearsal's by \d+ MB/) } });
    expect(digest(kernel.state)).toBe(before);
    expect(await kernel.dispatch(conn, { type: 'timeline' })).toMatchObject({ ok: true });
  }, 60_000);

  it("a step that never ends, in the live process only, is stopped at a bound set by the rehearsal's time, not the migration's 30 s: the feed is held for seconds, then serves on", async () => {
    const { kernel, conn, frames } = boot();
    const before = digest(kernel.state);
    const spin = await telling(`(post, ctx) => { if (live()) for (;;); return react(post, ctx); }`);
    // a command sent as the migration starts waits for whatever holds this process's event loop
    let waited = 0;
    const watcher = kernel.connect(framesTo((f) => {
      if (f.t !== 'upgrade' || f.phase !== 'migrate' || waited !== 0) return;
      waited = -1;
      const t = performance.now();
      void kernel.dispatch(conn, { type: 'timeline' }).then(() => (waited = performance.now() - t));
    }));
    const t0 = performance.now();
    const report = await kernel.upgrade(spin);
    const took = performance.now() - t0;
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_MIGRATION_TIMEOUT', message: expect.stringMatching(/ran for more than 2000 ms in a slice of the first pass \(\d+ entities\) in the live process, where the rehearsal took \d+ ms for as many at its slowest/) } });
    expect(took).toBeLessThan(15_000);
    await expect.poll(() => waited).toBeGreaterThan(0);
    expect(waited).toBeLessThan(10_000);
    expect(digest(kernel.state)).toBe(before);
    expect(frames.some((f) => f.t === 'upgrade' && f.phase === 'refused')).toBe(true);
    kernel.disconnect(watcher);
    // and an honest push after it commits
    expect((await kernel.upgrade(r2)).result).toBe('committed');
  }, 60_000);

  it('a step slow in every slice in both processes (seconds a call, whatever its size) is stopped in the live process at the bound its entities set, not after seconds a slice', async () => {
    const { kernel } = boot(1500);
    // the first post of every slice spins for seconds: the rehearsal's slices are long, each of them,
    // and the live process's would hold the feed as long, slice after slice
    const slow = await v2Release(`let fresh = false;
const posts = { ...v1Shape.posts, read(c, cursor, max) { fresh = true; return v1Shape.posts.read(c, cursor, max); } };
const react = up.each.posts;
export const migrations = [{ ...v1ToV2, shapes: { from: { ...v1Shape, posts }, to: v2Shape }, up: { ...up, each: { posts: (post, ctx) => {
  if (fresh) { fresh = false; let x = 0; for (let i = 0; i < 1.5e9; i++) x = (x * 31 + i) | 0; if (x === 0.5) return null; }
  return react(post, ctx);
} } } }];`);
    const before = digest(kernel.state);
    const report = await kernel.upgrade(slow);
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_MIGRATION_TIMEOUT', message: expect.stringMatching(/in a slice of the first pass \(\d+ entities\) in the live process/) } });
    expect(digest(kernel.state)).toBe(before);
  }, 120_000);

  it('the same in a catch-up round: one that never ends in the live process only is stopped at the bound, and the like written meanwhile is kept', async () => {
    const { kernel, conn, frames } = boot();
    await kernel.dispatch(conn, { type: 'join', handle: 'liker' });
    const spin = await telling(`(post, ctx) => { if (live() && finished) for (;;); return react(post, ctx); }`);
    const pending = kernel.upgrade(spin, { pace: { perSecond: 4000 } });
    while (!frames.some((f) => f.t === 'upgrade' && f.phase === 'migrate' && ((f.detail as { progress?: { done: number } })?.progress?.done ?? 0) > 500)) await new Promise((r) => setTimeout(r, 20));
    expect(await kernel.dispatch(conn, { type: 'like', post: 'p1' })).toMatchObject({ ok: true });
    const after = kernel.state;
    const t0 = performance.now();
    const report = await pending;
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_MIGRATION_TIMEOUT', message: expect.stringMatching(/ran for more than 2000 ms in a catch-up round in the live process, where the rehearsal took \d+ ms for it/) } });
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(kernel.state).toBe(after);
    expect(kernel.version).toBe(1);
  }, 60_000);

  it("an honest step whose checks cost more than its mapping (1.5 MB added to each post's text, declared) commits: a slice here is bounded by what the rehearsal took to map and to check as many", async () => {
    // the live process checks and digests what a slice built inside the slice's bound, a string
    // character by character: bounded by the rehearsal's mapping alone (2 ms for these 300 posts, its
    // checks 2.2 s for 1 MB each), the first slice here ran out of its 2 s and the push was refused
    const long = await releases.buildFrom(2, `export * from ${abs('src/feed/v2/index.ts')};
import { validate as v } from ${abs('src/feed/v2/index.ts')};
// a feed of long texts: v2's own checks, but for their length (and the count of problems past the first)
export const validate = (s) => v(s).filter((p) => !/text is over 500 characters|^\\.\\.\\. and \\d+ more problems$/.test(p));
`, `import { v1ToV2 } from ${abs('migrations/001-v1-to-v2.ts')};
const { up } = v1ToV2;
export const migrations = [{ ...v1ToV2, lossless: false, down: undefined, up: { ...up, changes: { ...up.changes, posts: { ...up.changes.posts, change: ['text'] } }, each: { posts: (post, ctx) => ({ ...up.each.posts(post, ctx), text: post.text + '\\n' + '-'.repeat(1_500_000) }) } } }];
`);
    const kernel = new Kernel(r1, { initialState: buildV1(300, 50), limits: { rehearsalHeapMb: 0 } });
    kernels.push(kernel);
    const report = await kernel.upgrade(long);
    expect(report.error).toBeUndefined();
    expect(report.result).toBe('committed');
    expect(kernel.version).toBe(2);
  }, 120_000);

  it('the memory guard projects each step over its own entities: an honest push 1 -> 3 fits the room it needs, and one with too little room is refused before it is built', async () => {
    const r3 = await releases.real(3);
    // the high-water mark `room` MB above what the heap holds with the state built (at most 1% of the
    // limit less: ~41 MB here)
    const withRoom = (roomMb: number) => {
      const initialState = buildV1(100_000, 1000);
      // what the heap keeps: the garbage of the cases before would be room the mark never meant
      collect();
      const heap = v8.getHeapStatistics();
      const kernel = new Kernel(r1, { initialState, limits: { rehearsalHeapMb: 1024, heapHighWaterPercent: Math.floor(((heap.used_heap_size + roomMb * 2 ** 20) / heap.heap_size_limit) * 100) } });
      kernels.push(kernel);
      return kernel;
    };
    // What the rehearsal's heap grew by counts garbage not yet collected too: projected, this push
    // needed ~0.3-0.8 GB (the more the busier the machine), so 2.5 GB is room enough. Projected over the
    // entities of 2 -> 3 alone (its first thousand are users), all of 1 -> 2's growth was multiplied
    // by what was left of 2 -> 3, and this push was refused as needing gigabytes
    const fits = await withRoom(2_500).upgrade(r3);
    expect(fits.error).toBeUndefined();
    expect(fits).toMatchObject({ result: 'committed', steps: [{ step: '1->2' }, { step: '2->3' }] });
    // with room for less than it keeps (~30 MB): refused before it is built, nothing changed (by the
    // projection, or by the mark itself where this process's heap reaches it first)
    const small = withRoom(5);
    const before = digest(small.state);
    const refused = await small.upgrade(r3);
    expect(refused).toMatchObject({ result: 'refused', error: { code: 'E_MEMORY', message: expect.stringMatching(/the new state needs about \d+ MB beside the live one \(measured in the rehearsal\), but this process had \d+ MB below its heap limit|the live process's heap and buffers reached \d+ MB/) } });
    expect(digest(small.state)).toBe(before);
    // Room for what the new state keeps, not for the garbage the rehearsal made building it: measured
    // after a collection there, it fits (projected from the heap's growth alone, this push was refused
    // as needing ~0.3-0.8 GB, and a 1M-post push on a server with a 1 GB heap as needing 0.6-1 GB)
    const tight = withRoom(150);
    const report = await tight.upgrade(r3);
    expect(report.error).toBeUndefined();
    expect(report).toMatchObject({ result: 'committed', steps: [{ step: '1->2' }, { step: '2->3' }] });
  }, 120_000);

  it("a collection whose get() hands one process a copy of its own making is compared by content, not taken as the state's", async () => {
    // users are mapped as they are (none rewritten), so no entity of theirs is in a stream; get() gives
    // the first process to call it a copy with one handle changed (and the others a copy of their own). The rehearsal keeps the releases it
    // loaded, so a dry run spends that there; the live process loads the release afresh for the push.
    const lying = await v2Release(`
let calls = 0;
function lie(users) {
  const leaf0 = users.shift === 0 ? users.root : users.root[0];
  const leaf = Object.freeze([{ ...leaf0[0], handle: 'not_what_was_checked' }, ...leaf0.slice(1)]);
  return Object.freeze({ size: users.size, shift: users.shift, root: users.shift === 0 ? leaf : Object.freeze([leaf, ...users.root.slice(1)]) });
}
const users = { ...v1Shape.users, get: (s) => (calls++ === 0 ? lie(s.users) : Object.freeze({ ...s.users })) };
export const migrations = [{ ...v1ToV2, shapes: { from: { ...v1Shape, users }, to: { ...v2Shape, users } }, up: { ...up, each: { posts: up.each.posts, users: (u) => u }, finish: (s, m, ctx) => { const out = up.finish(s, m, ctx); return { ...out, state: { ...out.state, users: m.users } }; } } }];`);
    const { kernel, conn } = boot(2000);
    expect((await kernel.upgrade(lying, { dryRun: true })).result).not.toBe('committed');
    const before = digest(kernel.state);
    const report = await kernel.upgrade(lying);
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_DIVERGED', message: expect.stringMatching(/what the last step built around its collections/) } });
    expect(digest(kernel.state)).toBe(before);
    expect(await kernel.dispatch(conn, { type: 'timeline' })).toMatchObject({ ok: true });
  }, 60_000);

  it('a post holding half an emoji (a lone surrogate, which the copy to the rehearsal carries as U+FFFD) commits', async () => {
    const { kernel, conn } = boot(200);
    await kernel.dispatch(conn, { type: 'join', handle: 'halfway' });
    expect(await kernel.dispatch(conn, { type: 'post', text: 'cut short \uD83D' })).toMatchObject({ ok: true });
    expect(await kernel.dispatch(conn, { type: 'post', text: 'half \uD83D, then more' })).toMatchObject({ ok: true });
    expect((await kernel.upgrade(r2)).result).toBe('committed');
  }, 60_000);

  it("a reaction taken back and given again (its emoji now last in the post's map) does not part the two copies: v3 -> v2 commits", async () => {
    const { kernel, conn } = boot(500);
    expect((await kernel.upgrade(r2)).result).toBe('committed');
    const join = async (handle: string) => {
      const c = kernel.connect(framesTo(() => {}));
      await kernel.dispatch(c, { type: 'join', handle });
      return c;
    };
    const [ann, bob] = [await join('ann'), await join('bob')];
    const made = (await kernel.dispatch(ann, { type: 'post', text: 'react to me' })) as { data: { post: { id: string } } };
    const post = made.data.post.id;
    await kernel.dispatch(ann, { type: 'react', post, emoji: '❤️' });
    await kernel.dispatch(bob, { type: 'react', post, emoji: '😂' });
    // the rehearsal's copy has the post now, ❤️ first
    const r3 = await releases.real(3);
    expect((await kernel.upgrade(r3)).result).toBe('committed');
    await kernel.dispatch(ann, { type: 'unreact', post, emoji: '❤️' });
    await kernel.dispatch(ann, { type: 'react', post, emoji: '❤️' });
    // v3's down keeps each post's reactions as they are, in their order: 😂 first now
    const report = await kernel.rollback({ acceptDrops: { edits: 1e9, follows: 1e9, notifications: 1e9 } });
    expect(report.error).toBeUndefined();
    expect(report.result).toBe('committed');
    expect(kernel.version).toBe(2);
    expect(await kernel.dispatch(conn, { type: 'timeline' })).toMatchObject({ ok: true });
  }, 60_000);

  it("a collection whose own with() stores other posts than it is given, in the live process only, is refused: the state itself is compared, node by node", async () => {
    const { kernel, conn } = boot(2000);
    const before = { digest: digest(kernel.state), state: kernel.state };
    // the streams fold what a step hands with(), and with() is release code: only the built state tells
    const lying = await v2Release(`let firstMax = 0;
const live = () => firstMax > 0 && firstMax <= 256;
const from = { ...v1Shape, posts: { ...v1Shape.posts, read(c, cursor, max) { if (firstMax === 0) firstMax = max; return v1Shape.posts.read(c, cursor, max); } } };
const posts = { ...v2Shape.posts, with(base, keys, values) { return v2Shape.posts.with(base, keys, live() ? values.map((p) => (p === null ? p : Object.freeze({ ...p, text: 'changed ' + p.id }))) : values); } };
export const migrations = [{ ...v1ToV2, shapes: { from, to: { ...v2Shape, posts } } }];`);
    const pushed = await kernel.upgrade(lying);
    expect(pushed).toMatchObject({ result: 'refused', error: { code: 'E_DIVERGED', message: expect.stringMatching(/in the new state itself, compared node by node, under `posts\.root\.0`.*nothing changed/) } });
    expect(kernel.state).toBe(before.state);
    expect(digest(kernel.state)).toBe(before.digest);
    expect(kernel.version).toBe(1);
    expect(await kernel.dispatch(conn, { type: 'timeline' })).toMatchObject({ ok: true });
    // and the refusal leaves nothing behind that refuses the honest upgrade after it (1 -> 2 -> 3)
    const r3 = await releases.real(3);
    expect((await kernel.upgrade(r3)).result).toBe('committed');
    expect(kernel.version).toBe(3);
  }, 120_000);

  it('a text crafted to give its post the same digest under a 32-bit hash that can be undone (what the whole-state digest first was) is refused', async () => {
    const { kernel } = boot(2000);
    const before = digest(kernel.state);
    // A probe's release: FNV-1a over 32-bit words, each step (h ^ x) * odd, is undone by the inverse
    // of the odd number; from the post's own fields it solved for two correction characters, for free.
    const crafted = await v2Release(`let firstMax = 0;
const live = () => firstMax > 0 && firstMax <= 256;
const from = { ...v1Shape, posts: { ...v1Shape.posts, read(c, cursor, max) { if (firstMax === 0) firstMax = max; return v1Shape.posts.read(c, cursor, max); } } };
const P = 0x01000193, SEED = 0x811c9dc5;
let PINV = P; for (let i = 0; i < 5; i++) PINV = Math.imul(PINV, 2 - Math.imul(P, PINV));
const fw = (a, x) => Math.imul(a ^ x, P);
const fstr = (a, s) => { const n = s.length; a = fw(a, n | 0x40000000); let i = 0; for (; i + 1 < n; i += 2) a = fw(a, s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)); if (i < n) a = fw(a, s.charCodeAt(i)); return a; };
const fleaf = (a, v) => (typeof v === 'string' ? fstr(a, v) : typeof v === 'number' ? fw(fw(a, 1), v) : v === null ? fw(a, 6) : fw(a, v ? 3 : 4));
const collide = (post, want) => {
  let a = fw(SEED, 8);
  for (const k of Object.keys(post)) { a = fstr(a, k); if (k === 'text') break; a = fleaf(a, post[k]); }
  const old = post.text;
  const target = fstr(a, old);
  for (let t = 0; t < 1000; t++) {
    const s = (want + String.fromCharCode(0x41 + (t % 26)).repeat(old.length)).slice(0, old.length - 2);
    let h = fw(a, old.length | 0x40000000);
    for (let i = 0; i + 1 < s.length; i += 2) h = fw(h, s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
    const w = Math.imul(target, PINV) ^ h;
    if ((w & 0xf800) === 0xd800 || ((w >>> 16) & 0xf800) === 0xd800) continue;
    const out = s + String.fromCharCode(w & 0xffff, w >>> 16);
    if (fstr(a, out) === target) return out;
  }
  return null;
};
const posts = { ...v2Shape.posts, with(base, keys, values) {
  return v2Shape.posts.with(base, keys, live() ? values.map((p) => { if (p === null || p.id !== 'p${(1001).toString(36)}') return p; const text = collide(p, 'PWNED:'); return text === null ? p : Object.freeze({ ...p, text }); }) : values);
} };
export const migrations = [{ ...v1ToV2, shapes: { from, to: { ...v2Shape, posts } } }];`);
    const report = await kernel.upgrade(crafted);
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_DIVERGED', message: expect.stringMatching(/compared node by node, under `posts\.root\.0`/) } });
    expect(digest(kernel.state)).toBe(before);
    expect(kernel.version).toBe(1);
  }, 120_000);

  it("a changed() that hides a catch-up round's writes in the live process only, and a lookup() that covers for it, are refused: the like and the post acknowledged meanwhile are kept", async () => {
    const { kernel, conn, frames } = boot(4000);
    await kernel.dispatch(conn, { type: 'join', handle: 'liker' });
    const lying = await v2Release(`let firstMax = 0;
let fresh = null;
const hidden = new Set();
const live = () => firstMax > 0 && firstMax <= 256;
const from = { ...v1Shape, posts: { ...v1Shape.posts,
  read(c, cursor, max) { if (firstMax === 0) firstMax = max; return v1Shape.posts.read(c, cursor, max); },
  changed(a, b) {
    const keys = v1Shape.posts.changed(a, b);
    if (!live()) return keys;
    fresh = b;
    for (const k of keys) hidden.add(k);
    return [];
  } } };
const posts = { ...v2Shape.posts, lookup(c, key) {
  if (live() && hidden.has(key)) return v1ToV2.up.each.posts(v1Shape.posts.lookup(fresh, key));
  return v2Shape.posts.lookup(c, key);
} };
export const migrations = [{ ...v1ToV2, shapes: { from, to: { ...v2Shape, posts } } }];`);
    const pending = kernel.upgrade(lying, { pace: { perSecond: 4000 } });
    while (!frames.some((f) => f.t === 'upgrade' && f.phase === 'migrate' && ((f.detail as { progress?: { done: number } })?.progress?.done ?? 0) > 500)) await new Promise((r) => setTimeout(r, 20));
    const liked = (await kernel.dispatch(conn, { type: 'like', post: 'p1' })) as { ok: true; data: { likes: number } };
    expect(liked).toMatchObject({ ok: true, data: { liked: true } });
    expect(await kernel.dispatch(conn, { type: 'post', text: 'written during the migration' })).toMatchObject({ ok: true });
    const written = kernel.state;
    const report = await pending;
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_DIVERGED', message: expect.stringMatching(/compared node by node/) } });
    expect(kernel.state).toBe(written);
    expect(kernel.version).toBe(1);
    // both writes are there, and go through the honest upgrade after the refusal
    expect((await kernel.upgrade(r2)).result).toBe('committed');
    const timeline = (await kernel.dispatch(conn, { type: 'timeline' })) as { ok: true; data: { posts: { text: string }[] } };
    expect(timeline.data.posts.some((p) => p.text === 'written during the migration')).toBe(true);
    const p1 = (await kernel.dispatch(conn, { type: 'thread', post: 'p1' })) as { ok: true; data: { post: { reactions: Record<string, number> } } };
    expect(p1.data.post.reactions['❤️']).toBe(liked.data.likes);
  }, 120_000);

  /** Feed v2 whose posts' changed() adds post 0 in the rehearsal only, to a round that has a post 'late',
   *  and whose lookup() of post 0 never returns in the live process once its first pass is done: the
   *  live process reads back there what only the rehearsal re-mapped (compareCaught). */
  const lateLookup = () => v2Release(`let firstMax = 0;
let finished = false;
const live = () => firstMax > 0 && firstMax <= 256;
const from = { ...v1Shape, posts: { ...v1Shape.posts,
  read(c, cursor, max) { if (firstMax === 0) firstMax = max; return v1Shape.posts.read(c, cursor, max); },
  changed(a, b) {
    const keys = v1Shape.posts.changed(a, b);
    return !live() && keys.some((k) => v1Shape.posts.lookup(b, k)?.text === 'late') ? [...keys, 0] : keys;
  } } };
const posts = { ...v2Shape.posts, lookup(c, key) { if (live() && finished && key === 0) for (;;); return v2Shape.posts.lookup(c, key); } };
export const migrations = [{ ...v1ToV2, shapes: { from, to: { ...v2Shape, posts } }, up: { ...up, finish: (s, m, ctx) => { finished = true; return up.finish(s, m, ctx); } } }];`);

  const heldUntil = async (frames: ServerFrame[]) => {
    while (!frames.some((f) => f.t === 'upgrade' && f.phase === 'held')) await new Promise((r) => setTimeout(r, 10));
  };

  it("a lookup() that never returns in the live process, on a key only the rehearsal re-mapped in a catch-up round, holds the feed a round's bound, not the migration's 30 s", async () => {
    const { kernel, conn, frames } = boot(1000);
    await kernel.dispatch(conn, { type: 'join', handle: 'author' });
    const before = digest(kernel.state);
    const pending = kernel.upgrade(await lateLookup(), { hold: true });
    await heldUntil(frames);
    await kernel.dispatch(conn, { type: 'post', text: 'late' });
    const written = digest(kernel.state);
    expect(written).not.toBe(before);
    // how late a timer of 20 ms runs while the held rounds catch up with the post
    let done = false;
    void pending.finally(() => (done = true));
    let late = 0;
    while (!done) {
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 20));
      late = Math.max(late, performance.now() - t0 - 20);
    }
    const report = await pending;
    expect(report).toMatchObject({ result: 'refused', failedAt: 'held', error: { code: 'E_MIGRATION_TIMEOUT', message: expect.stringMatching(/reading back \(lookup\) the entities only the rehearsal re-mapped/) } });
    // before: 30.0 s, the migration's own limit
    expect(late).toBeLessThan(8000);
    expect(digest(kernel.state)).toBe(written);
    expect(kernel.version).toBe(1);
    expect(await kernel.dispatch(conn, { type: 'timeline' })).toMatchObject({ ok: true });
  }, 120_000);

  it('the same lookup inside the cut-over holds every command what is left of its limit, and is refused with E_CUTOVER', async () => {
    const { kernel, report, cutOver, waited, written } = await lateBeforeCutover(r1, await lateLookup(), kernels);
    expect(report.result).toBe('refused');
    if (cutOver) {
      expect(report).toMatchObject({ failedAt: 'cutover', error: { code: 'E_CUTOVER', message: expect.stringMatching(/the live process's catch-up of the last changes did not end within the cut-over's 1\.0 s limit/) } });
      // before: 30.1 s, the migration's own limit
      expect(waited).toBeLessThan(5000);
    }
    expect(kernel.state).toBe(written);
    expect(kernel.version).toBe(1);
  }, 120_000);
});

/**
 * What a catch-up round re-migrated is kept, and digested when the live process compares what it built
 * with the rehearsal's: outside any time limit. Each release here does it only in the live process
 * (told apart by the size of its first slice), on the post written right before the cut-over: the
 * process was wedged for good there, every command waiting. Run in a process of its own.
 */
describe("what a catch-up round hands the live process's comparison is the kernel's own, and checked", () => {
  const late = (body: string) => v2Release(`let firstMax = 0;
let armed = false;
const live = () => firstMax > 0 && firstMax <= 256;
const read = (c, cursor, max) => { if (firstMax === 0) firstMax = max; return v1Shape.posts.read(c, cursor, max); };
${body}`);

  it.each([
    [
      "changed() returns keys with a getter at an index that answers the round's reads, then never returns",
      () => late(`const marked = new WeakSet();
const from = { ...v1Shape, posts: { ...v1Shape.posts, read, changed(a, b) {
  const keys = v1Shape.posts.changed(a, b);
  if (!live() || keys.length === 0) return keys;
  const first = keys[0];
  Object.defineProperty(keys, 0, { get() { if (armed) for (;;); return first; }, enumerable: true, configurable: true });
  marked.add(keys);
  return keys;
} } };
const to = { ...v2Shape, posts: { ...v2Shape.posts, with(base, keys, values) { const out = v2Shape.posts.with(base, keys, values); if (marked.has(keys)) armed = true; return out; } } };
export const migrations = [{ ...v1ToV2, shapes: { from, to }, up }];`),
      'E_MIGRATION_CONTRACT',
      /^migration 1->2: the posts collection's changed\(\) gave keys with a getter at \[0\]; expected an array of keys/,
    ],
    [
      'each maps the late post to one with a getter, and with() stores a plain one in its place',
      () => late(`const poisoned = new WeakMap();
const from = { ...v1Shape, posts: { ...v1Shape.posts, read } };
const to = { ...v2Shape, posts: { ...v2Shape.posts, with(base, keys, values) {
  if (!values.some((v) => poisoned.has(v))) return v2Shape.posts.with(base, keys, values);
  const out = v2Shape.posts.with(base, keys, values.map((v) => poisoned.get(v) ?? v));
  armed = true;
  return out;
} } };
const each = (post, ctx) => {
  const m = up.each.posts(post, ctx);
  if (!live() || post.text !== 'late') return m;
  const o = { ...m };
  Object.defineProperty(o, 'text', { get() { if (armed) for (;;); return m.text; }, enumerable: true });
  poisoned.set(o, m);
  return o;
};
export const migrations = [{ ...v1ToV2, shapes: { from, to }, up: { ...up, each: { posts: each } } }];`),
      'E_VALIDATE',
      /^the state after 1->2 \(checked in the live process\): state holds a getter or setter at posts\[\d+\]\.text/,
    ],
  ])('%s: refused, and the feed serves on', async (_what, make, code, message) => {
    const bad = await make();
    const { ended, out } = await runScript(
      `import { Kernel } from ${SRC('src/kernel/kernel.ts')};
import { framesTo } from ${SRC('src/transport/frames.ts')};
import { buildV1 } from ${SRC('test/feed/build.ts')};
const [r1, bad] = ${JSON.stringify([r1, bad])};
const kernel = new Kernel(r1, { initialState: buildV1(1000, 50), limits: { rehearsalHeapMb: 512, cutoverTimeoutMs: 1000 } });
const frames = [];
const author = kernel.connect(framesTo((f) => frames.push(f)));
await kernel.dispatch(author, { type: 'join', handle: 'author' });
const pending = kernel.upgrade(bad, { hold: true });
while (!frames.some((f) => f.t === 'upgrade' && f.phase === 'held')) await new Promise((r) => setTimeout(r, 10));
await kernel.dispatch(author, { type: 'post', text: 'late' });
const written = kernel.state;
try { kernel.cutover(); } catch {}
const after = await kernel.dispatch(author, { type: 'timeline' });
const report = await pending;
process.stdout.write(JSON.stringify({ result: report.result, error: report.error, same: kernel.state === written, version: kernel.version, served: after.ok }));
kernel.close();
process.exit(0);
`,
      60_000,
      'wedged: still running after 60 s',
    );
    expect(ended).toBe(0);
    expect(JSON.parse(out)).toEqual({ result: 'refused', error: { code, message: expect.stringMatching(message) }, same: true, version: 1, served: true });
  }, 120_000);
});
