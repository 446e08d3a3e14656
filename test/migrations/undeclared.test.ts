/**
 * Migrations that run cleanly and are wrong. Each keeps every count, so validate() and the census alone
 * would let it commit; the declared-change check compares the states entity by entity and refuses the
 * first difference the step does not declare, naming the entity, the field and both values. The state
 * stays identical. Losses that are declared must still be accepted by the operator, with their count.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { pack } from 'msgpackr';
import { Kernel } from '../../src/kernel/kernel.ts';
import type { ReleaseSource } from '../../src/kernel/release.ts';
import { buildV1 } from '../feed/build.ts';
import { TempReleases, abs } from '../support/releases.ts';

const digest = (state: unknown) => createHash('sha256').update(pack(state)).digest('hex');
const releases = new TempReleases();
let v1: ReleaseSource;
const kernels: Kernel[] = [];

beforeAll(async () => {
  v1 = await releases.real(1);
}, 60_000);
afterAll(() => releases.remove());
afterEach(() => {
  for (const k of kernels.splice(0)) k.close();
});

/** Migration 1 -> 2 as shipped, with `up` changed by `patch` (source: a function of the real `up`) and the step's fields by `step`. */
const wrongUp = (patch: string, step = '') => releases.build(
  2,
  `import { v1ToV2 } from ${abs('migrations/001-v1-to-v2.ts')};
import { vecMap, vecGet, vecLength, toVec, fromVec } from ${abs('src/feed/lib/vec.ts')};
import { toTrie, trieForEach } from ${abs('src/feed/lib/trie.ts')};
const up = v1ToV2.up;
const react = up.each.posts;
export const migrations = [{ ...v1ToV2, up: (${patch})(up, react)${step ? `, ${step}` : ''} }];
`,
);

function boot() {
  const kernel = new Kernel(v1, { initialState: buildV1(300, 20) });
  kernels.push(kernel);
  return kernel;
}

async function expectRefused(release: ReleaseSource, code: string, message: RegExp) {
  const kernel = boot();
  const before = { state: kernel.state, digest: digest(kernel.state) };
  const report = await kernel.upgrade(release);
  expect(report).toMatchObject({ result: 'refused', error: { code, message: expect.stringMatching(message) } });
  expect(kernel.state).toBe(before.state);
  expect(digest(kernel.state)).toBe(before.digest);
  expect(kernel.version).toBe(1);
}

describe('a migration that changes what it does not declare is refused', () => {
  it('truncates every post to 10 characters', async () => {
    await expectRefused(await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => ({ ...react(p, c), text: p.text.slice(0, 10) }) } })`), 'E_UNDECLARED', /post p[0-9a-z]+: text was "post number \d+", is "post numbe", but posts.text is not declared changed/);
  });

  it('swaps the authors of posts', async () => {
    await expectRefused(await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => ({ ...react(p, c), author: p.author === 'u1' ? 'u2' : 'u1' }) } })`), 'E_UNDECLARED', /author was "u\d+", is "u\d+", but posts.author is not declared changed/);
  });

  it('sets every timestamp to 0', async () => {
    await expectRefused(await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => ({ ...react(p, c), at: 0 }) } })`), 'E_UNDECLARED', /at was 1600000\d+, is 0/);
  });

  it('points replies at the wrong parent', async () => {
    await expectRefused(await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => (p.replyTo === null ? react(p, c) : { ...react(p, c), replyTo: 'p1' }) } })`), 'E_UNDECLARED', /replyTo was "p[0-9a-z]+", is "p1"/);
  });

  it('declares a field added that was there before, and truncates it (added says only that it appears)', async () => {
    await expectRefused(await wrongUp(`(up, react) => ({ ...up, changes: { ...up.changes, posts: { remove: ['likes'], add: ['reactions', 'text'] } }, each: { posts: (p, c) => ({ ...react(p, c), text: p.text.slice(0, 3) }) } })`), 'E_UNDECLARED', /post p[0-9a-z]+: posts.text is declared added, but it was there before \("post number \d+", is "pos"\): a field the step rewrites is declared changed/);
  });

  it('turns one post into a number', async () => {
    await expectRefused(await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => (p.id === 'p2' ? 42 : react(p, c)) } })`), 'E_UNDECLARED', /post p2 was \{.*\}, is 42: an entity and a plain value, where the step declares no such change of posts/);
  });

  // (the next two lose every like: not lossless, or mapping each post back would refuse them first)
  it('loses every like and lets the kind go from the census unrenamed (a count that vanished checked nothing)', async () => {
    const dropsAll = `(up, react) => ({ ...up, changes: { posts: up.changes.posts }, each: { posts: (p, c) => ({ ...react(p, c), reactions: {} }) },
      finish(s, m, c) { const r = up.finish(s, m, c); return { state: { ...r.state, count: { ...r.state.count, reactions: 0 } } }; } })`;
    await expectRefused(await wrongUp(dropsAll, 'lossless: false'), 'E_INVARIANT', /likes: \d+ before, and gone from the census after, but the migration declared 0 dropped/);
    // renamed to a kind the census does not count: the same
    await expectRefused(await wrongUp(dropsAll.replace('changes: { posts: up.changes.posts }', "changes: { posts: up.changes.posts, likes: { rename: 'bogus' } }"), 'lossless: false'), 'E_INVARIANT', /likes \(renamed bogus\): \d+ before, and gone from the census after/);
  });

  it('puts the old posts back: validate() says how many problems in all, not the ones it listed', async () => {
    await expectRefused(await wrongUp(`(up) => ({ ...up, finish(s, m, c) { const r = up.finish(s, m, c); return { state: { ...r.state, posts: s.posts } }; } })`), 'E_VALIDATE', /validate\(\) rejected the migrated state \(2\d\d problems\): post p1: /);
  });

  it('shuffles the order of the timeline', async () => {
    await expectRefused(await wrongUp(`(up) => ({ ...up, finish(s, m, c) { const r = up.finish(s, m, c); return { state: { ...r.state, roots: toVec(fromVec(r.state.roots).reverse()) } }; } })`), 'E_UNDECLARED', /timeline entry \d+ was \d+, is \d+: the order of timeline changed, but the step does not declare reorders/);
  });

  it("swaps users' handles", async () => {
    await expectRefused(
      // the handle index is swapped too, so validate() finds nothing wrong: only the declared check can
      await wrongUp(`(up) => ({ ...up, finish(s, m, c) { const r = up.finish(s, m, c); const users = fromVec(r.state.users); const [a, b] = [users[0], users[1]]; users[0] = { ...a, handle: b.handle }; users[1] = { ...b, handle: a.handle }; const pairs = []; trieForEach(r.state.handles, (k, v) => pairs.push([k, v === 'u1' ? 'u2' : v === 'u2' ? 'u1' : v])); return { state: { ...r.state, users: toVec(users), handles: toTrie(pairs) } }; } })`),
      'E_UNDECLARED',
      /user u1: handle was "user_0", is "user_1", but users.handle is not declared changed/,
    );
  });

  it('wipes every session (everyone signed out)', async () => {
    await expectRefused(await wrongUp(`(up) => ({ ...up, finish(s, m, c) { const r = up.finish(s, m, c); return { state: { ...r.state, sessions: toTrie([]) } }; } })`), 'E_UNDECLARED', /a session of u\d+ was dropped, but the step does not declare that it drops sessions/);
  });

  it('swaps session tokens (people signed in as someone else)', async () => {
    await expectRefused(
      await wrongUp(`(up) => ({ ...up, finish(s, m, c) { const r = up.finish(s, m, c); const pairs = []; trieForEach(r.state.sessions, (k, v) => pairs.push([k, v])); const users = pairs.map(([, v]) => v); users.push(users.shift()); return { state: { ...r.state, sessions: toTrie(pairs.map(([k], i) => [k, users[i]])) } }; } })`),
      'E_UNDECLARED',
      /a session of u\d+ was "u\d+", is "u\d+", but sessions is not declared changed/,
    );
  });

  it('empties every like while renaming likes to reactions (the census holds across the rename)', async () => {
    await expectRefused(
      await wrongUp(`(up) => ({ ...up, each: { posts: (p) => ({ id: p.id, author: p.author, text: p.text, at: p.at, replyTo: p.replyTo, replies: p.replies, reactions: {} }) }, finish(s, m, c) { const r = up.finish(s, m, c); return { state: { ...r.state, count: { ...r.state.count, reactions: 0 } } }; } })`, 'lossless: false'),
      'E_INVARIANT',
      /likes \(now reactions\): \d+ before, 0 after, but the migration declared 0 dropped/,
    );
  });
});

describe('a step that declares itself lossless comes back, entity by entity, as it was', () => {
  // each keeps every count and every declaration (likes removed, reactions added): only the promise
  // down(up(s)) = s is broken, and only mapping each rewritten post back finds it
  it("gives each post the likes of the post read before it (every total kept)", async () => {
    await expectRefused(
      await wrongUp(`(up, react) => { let last = []; return { ...up, each: { posts: (p, c) => { const r = react({ ...p, likes: last }, c); last = p.likes; return r; } } }; }`),
      'E_UNDECLARED',
      /^migration 1->2: post p[0-9a-z]+: the step declares itself lossless, but it does not come back as it was: likes(\.length|\[0\]) was .*, is /,
    );
  });

  it('drops a reaction of every post on the way back', async () => {
    await expectRefused(
      await wrongUp('(up) => up', "down: { ...v1ToV2.down, each: { posts: (p, c) => { c.drop('reactions', 1); return v1ToV2.down.each.posts(p, c); } } }"),
      'E_UNDECLARED',
      /^migration 1->2: post p1: the step declares itself lossless, but mapping it back drops 1 reactions$/,
    );
  });

  it('reverses the order of every like list', async () => {
    await expectRefused(
      await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => react({ ...p, likes: [...p.likes].reverse() }, c) } })`),
      'E_UNDECLARED',
      /^migration 1->2: post p[0-9a-z]+: the step declares itself lossless, but it does not come back as it was: likes\[0\] was "u\d+", is "u\d+"$/,
    );
  });

  it('the same reversal in a step that does not declare itself lossless commits: nothing was promised', async () => {
    const kernel = boot();
    const report = await kernel.upgrade(await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => react({ ...p, likes: [...p.likes].reverse() }, c) } })`, 'lossless: false'));
    expect(report).toMatchObject({ result: 'committed' });
  });
});

describe('what a step may say it dropped', () => {
  it('names at most 100 kinds, each in at most 100 characters: they cross to the live process and into every report', async () => {
    await expectRefused(
      await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => { c.drop('kind ' + p.id, 0); return react(p, c); } } })`),
      'E_MIGRATION_CONTRACT',
      /migration 1->2: ctx.drop\("kind p[0-9a-z]+", 0\): a step may drop at most 100 kinds, each named in at most 100 characters/,
    );
    await expectRefused(
      await wrongUp(`(up, react) => ({ ...up, each: { posts: (p, c) => { c.drop('x'.repeat(101), 0); return react(p, c); } } })`),
      'E_MIGRATION_CONTRACT',
      /ctx.drop\("x{40}", 0\): a step may drop at most 100 kinds/,
    );
  });
});

describe('losses are confirmed, not only declared', () => {
  const dropsEverything = () =>
    wrongUp(`(up) => ({ ...up, changes: { ...up.changes, posts: { ...up.changes.posts, drops: true }, timeline: { drops: true } }, each: { posts: (p, c) => { c.drop('posts', 1); c.drop('likes', p.likes.length); return null; } }, finish(s, m, c) { const r = up.finish(s, m, c); return { state: { ...r.state, roots: toVec([]), count: { users: r.state.count.users, posts: 0, reactions: 0 } } }; } })`);

  it('a migration that drops every post, declared, is refused until the operator accepts that count', async () => {
    const release = await dropsEverything();
    const kernel = boot();
    const dry = await kernel.upgrade(release, { dryRun: true });
    expect(dry).toMatchObject({ result: 'dry-run', dropped: { posts: expect.any(Number) } });
    const posts = dry.dropped['posts']!;
    expect(posts).toBeGreaterThan(200);
    const refused = await kernel.upgrade(release);
    expect(refused).toMatchObject({ result: 'refused', error: { code: 'E_DROPS_NOT_ACCEPTED', message: expect.stringMatching(new RegExp(`drops ${posts} posts.*--accept-drops posts=${posts},likes=`)) } });
    // the timeline entries of the dropped posts, which the step does not count, are counted too
    expect(dry.dropped['timeline']).toBeGreaterThan(0);
    const short = await kernel.upgrade(release, { acceptDrops: { posts: posts - 1, likes: 1e9, timeline: 1e9 } });
    expect(short).toMatchObject({ result: 'refused', error: { code: 'E_DROPS_NOT_ACCEPTED', message: expect.stringMatching(/more than the \d+ posts accepted/) } });
    expect(kernel.version).toBe(1);
    const accepted = await kernel.upgrade(release, { acceptDrops: { ...dry.dropped } });
    expect(accepted).toMatchObject({ result: 'committed', dropped: { posts } });
  });

  it('a migration that declares it drops sessions and counts none is counted by what the sessions lost', async () => {
    // no census counts sessions, and validate() takes a feed where nobody is signed in
    const release = await wrongUp(`(up) => ({ ...up, changes: { ...up.changes, sessions: { drops: true } }, finish(s, m, c) { const r = up.finish(s, m, c); return { state: { ...r.state, sessions: toTrie([]) } }; } })`);
    const kernel = boot();
    const dry = await kernel.upgrade(release, { dryRun: true });
    expect(dry).toMatchObject({ result: 'dry-run', dropped: { sessions: 20 } });
    const refused = await kernel.upgrade(release);
    expect(refused).toMatchObject({ result: 'refused', error: { code: 'E_DROPS_NOT_ACCEPTED', message: expect.stringMatching(/drops 20 sessions.*--accept-drops sessions=20/) } });
    expect(kernel.version).toBe(1);
    expect(await kernel.upgrade(release, { acceptDrops: { sessions: 20 } })).toMatchObject({ result: 'committed', dropped: { sessions: 20 } });
  });
});

describe('a step naming a kind like what every object has is refused, saying so (kinds are looked up by name in records)', () => {
  const named = (patch: string) => releases.build(
    2,
    `import { v1ToV2 } from ${abs('migrations/001-v1-to-v2.ts')};
import { v1Shape, v2Shape } from ${abs('src/feed/lib/shapes.ts')};
import { vec } from ${abs('src/feed/lib/collections.ts')};
const up = v1ToV2.up;
const react = up.each.posts;
export const migrations = [(${patch})(v1ToV2, up, react)];
`,
  );
  const expectNamed = async (release: ReleaseSource, message: RegExp) => {
    for (const dryRun of [true, false]) {
      const kernel = boot();
      const before = { state: kernel.state, digest: digest(kernel.state) };
      const report = await kernel.upgrade(release, { dryRun });
      expect(report).toMatchObject({ result: 'refused', error: { code: 'E_MIGRATION_CONTRACT', message: expect.stringMatching(message) } });
      expect(kernel.state).toBe(before.state);
      expect(digest(kernel.state)).toBe(before.digest);
      expect(kernel.version).toBe(1);
    }
  };

  it('an entity that drops a toString (its count was the string "function toString() {…}1", committed unaccepted)', async () => {
    await expectNamed(await named(`(m, up, react) => ({ ...m, up: { ...up, each: { posts: (p, c) => { if (p.id === 'p2') c.drop('toString', 1); return react(p, c); } } } })`), /^migration 1->2: ctx\.drop\("toString", 1\) names a kind toString, a name every object has/);
  });

  it("an entity whose each catches ctx.drop's refusal and goes on (committed, its release holding the kernel's error to throw from a handler later)", async () => {
    await expectNamed(await named(`(m, up, react) => ({ ...m, up: { ...up, each: { posts: (p, c) => { try { c.drop('constructor', 1); } catch (e) { globalThis.kept = e; } return react(p, c); } } } })`), /^migration 1->2: ctx\.drop\("constructor", 1\) names a kind constructor, a name every object has/);
  });

  it('an entity that drops a __proto__ (the drop was lost without a word, and the step committed)', async () => {
    await expectNamed(await named(`(m, up, react) => ({ ...m, up: { ...up, each: { posts: (p, c) => { if (p.id === 'p2') c.drop('__proto__', 1); return react(p, c); } } } })`), /^migration 1->2: ctx\.drop\("__proto__", 1\) names a kind __proto__/);
  });

  it('a shape naming a kind constructor that only the old side has (refused as "target.get is not a function")', async () => {
    await expectNamed(await named(`(m, up) => ({ ...m, lossless: false, shapes: { from: { ...v1Shape, ['constructor']: vec((s) => s.users) }, to: v2Shape } })`), /^migration 1->2: the shape it reads names a kind constructor, a name every object has/);
  });

  it('a rename to constructor (refused as "k.into.with is not a function")', async () => {
    await expectNamed(await named(`(m, up) => ({ ...m, lossless: false, up: { ...up, changes: { ...up.changes, posts: { remove: ['likes'], add: ['reactions'], rename: 'constructor' } } } })`), /^migration 1->2: changes\.posts\.rename names a kind constructor/);
  });

  it('each mapping a kind toString (refused as "from.get is not a function")', async () => {
    await expectNamed(await named(`(m, up) => ({ ...m, up: { ...up, each: { ...up.each, ['toString']: (x) => x } } })`), /^migration 1->2: each names a kind toString/);
  });
});
