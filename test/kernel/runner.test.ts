/**
 * The kernel's migration runner: a step run in small slices gives the same state as the whole run, and
 * after the live state moves on, catching up re-migrates only what changed and still gives exactly the
 * whole run of the newer state.
 */
import { describe, expect, it } from 'vitest';
import { freeze } from 'immer';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';
import { runDirection } from '../../src/feed/lib/run.ts';
import * as v1 from '../../src/feed/v1/index.ts';
import * as v2 from '../../src/feed/v2/index.ts';
import { MAX_READ, Runner, directionOf } from '../../src/kernel/migrate/runner.ts';
import { entityCheck } from '../../src/kernel/migrate/checks.ts';
import { buildV1 } from '../feed/build.ts';
import { Driver } from '../feed/helpers.ts';

const now = 1_750_000_000_000;

function runner(dir: 'up' | 'down', state: unknown): Runner {
  const [source, target] = dir === 'up' ? [v1ToV2.shapes!.from, v1ToV2.shapes!.to] : [v1ToV2.shapes!.to, v1ToV2.shapes!.from];
  return new Runner(directionOf(v1ToV2, dir), source, target, state, { now }, '1->2');
}

function finish(r: Runner) {
  const { out, dropped } = r.result(now);
  return { state: (out as { state: unknown }).state, dropped: { ...dropped, ...((out as { dropped?: Record<string, number> }).dropped ?? {}) } };
}

describe('migration runner', () => {
  // the keys go on into what the live process keeps and names in its messages outside any time limit
  // (a block's first key is JSON.stringify'd in E_DIVERGED: a key's toJSON ran there, unbounded)
  it.each([
    ['an object', (k: unknown, i: number) => (i === 0 ? { toJSON: () => 'p0' } : k), /read\(\) gave keys with an object at \[0\]/],
    ['null', (k: unknown, i: number) => (i === 1 ? null : k), /read\(\) gave keys with null at \[1\]/],
  ])("refuses a collection whose read() gives %s for a key, E_MIGRATION_CONTRACT", (_what, swap, message) => {
    const from = v1ToV2.shapes!.from!;
    const posts = { ...from['posts']!, read: (c: unknown, cursor: unknown, max: number) => {
      const r = from['posts']!.read(c, cursor, max);
      return { ...r, keys: r.keys.map(swap) };
    } };
    const r = new Runner(directionOf(v1ToV2, 'up'), { ...from, posts } as never, v1ToV2.shapes!.to, buildV1(10, 5), { now }, '1->2');
    expect(() => r.slice(100)).toThrow(expect.objectContaining({ code: 'E_MIGRATION_CONTRACT', message: expect.stringMatching(message) }));
  });

  it('gives the whole run of a step when run in slices of any size, and reports progress per kind', () => {
    const state = buildV1(3000, 50);
    const whole = runDirection(v1ToV2, 'up', state, { now });
    for (const size of [1, 31, 500, 10_000]) {
      const r = runner('up', state);
      expect(r.online).toBe(true);
      expect(r.progress()).toEqual({ posts: { done: 0, total: 3000 } });
      let slices = 0;
      while (r.slice(size) > 0) slices++;
      expect(slices).toBe(Math.ceil(3000 / size));
      expect(r.progress()).toEqual({ posts: { done: 3000, total: 3000 } });
      expect(finish(r)).toEqual(whole);
    }
  });

  it('reads at most MAX_READ entities a slice however many it is asked for, and still gives the whole run', () => {
    // (an array of more than 16,382 slots costs V8 a mapping of its own: a slice stays under that)
    expect(MAX_READ).toBeLessThanOrEqual(16_382);
    const total = 2 * MAX_READ + 123;
    const state = buildV1(total, 50);
    const whole = runDirection(v1ToV2, 'up', state, { now });
    const r = runner('up', state);
    const sizes: number[] = [];
    for (let n = r.slice(1 << 20); n > 0; n = r.slice(1 << 20)) sizes.push(n);
    expect(sizes).toEqual([MAX_READ, MAX_READ, 123]);
    expect(finish(r)).toEqual(whole);
  });

  it('catches up with commands served meanwhile: likes, new posts, deletes, joins', () => {
    const d = new Driver<v1.State>(v1, buildV1(2000, 20));
    const snapshot = d.state;
    const r = runner('up', snapshot);
    r.slice(700); // part of the first pass, then the live state moves on
    const me = d.join('latecomer');
    d.ok(me, { type: 'like', post: 'p1' }); // an entity the runner already migrated
    d.ok(me, { type: 'like', post: 'p1jk' }); // one it has not reached yet
    const mine = d.ok(me, { type: 'post', text: 'written during the migration' }).post.id;
    d.ok('u2', { type: 'delete', post: 'p2' });
    while (r.slice(700) > 0);
    expect(r.catchUp(d.state)).toBeGreaterThanOrEqual(4);
    d.ok(me, { type: 'post', text: 'and one more', replyTo: mine });
    expect(r.catchUp(d.state)).toBe(2); // the reply and its parent
    expect(r.rounds).toBe(2);
    const caught = finish(r);
    expect(caught).toEqual(runDirection(v1ToV2, 'up', d.state, { now }));
    expect(v2.validate(freeze(caught.state as v2.State, true))).toEqual([]);
    expect(r.catchUp(d.state)).toBe(0);
  });

  it('keeps per-entity drops exact when an entity is migrated again (down: reactions folded into likes)', () => {
    const d = new Driver<v2.State>(v2, freeze(runDirection(v1ToV2, 'up', buildV1(200, 10), { now }).state, true));
    d.ok('u1', { type: 'react', post: 'p1', emoji: '😂' }); // u1 may already like p1: one drop at most
    const r = runner('down', d.state);
    while (r.slice(50) > 0);
    const first = finish(r).dropped;
    d.ok('u2', { type: 'react', post: 'p1', emoji: '🎉' });
    d.ok('u2', { type: 'react', post: 'p1', emoji: '😮' });
    r.catchUp(d.state);
    const caught = finish(r);
    expect(caught).toEqual(runDirection(v1ToV2, 'down', d.state, { now }));
    expect(caught.dropped['reactions']).toBeGreaterThan(first['reactions'] ?? 0);
    expect(v1.validate(freeze(caught.state as v1.State, true))).toEqual([]);
  });

  it('names the entities it rewrote, newest last, bounded', () => {
    const r = runner('up', buildV1(1000, 10));
    while (r.slice(100) > 0);
    const ids = r.rewritten()['posts']!;
    expect(ids.length).toBe(200);
    expect(ids.at(-1)).toBe('prs'); // post 1000 in base 36
  });

  it('refuses a direction without whole() or each + finish, and a kind its shape does not name', () => {
    expect(() => new Runner({ describe: 'x' }, {}, {}, {}, { now }, '1->2')).toThrow(/needs whole/);
    expect(() => new Runner({ describe: 'x', each: { likes: (e: unknown) => e }, finish: (s: unknown) => ({ state: s }) }, v1ToV2.shapes!.from, v1ToV2.shapes!.to, buildV1(1), { now }, '1->2')).toThrow(/likes, which the shape/);
  });
});

/**
 * The declared-change check of one entity, as the rehearsal's slices call it entity after entity: it
 * remembers the fields of the last pair it checked field by field, and for a pair with the very same
 * fields compares only the values. Whatever follows a run of honest entities is still caught.
 */
describe('the declared-change check, entity after entity', () => {
  const posts = v1ToV2.shapes!.from['posts']!;
  const reactions = v1ToV2.shapes!.to['posts']!;
  const up = directionOf(v1ToV2, 'up');
  const before = (i: number) => ({ id: `p${i}`, author: 'u1', text: `post ${i}`, at: i, replyTo: null, replies: [`r${i}`], likes: ['u2'] });
  const after = (i: number) => ({ id: `p${i}`, author: 'u1', text: `post ${i}`, at: i, replyTo: null, replies: [`r${i}`], reactions: { '❤️': ['u2'] } });
  const honest = () => {
    const check = entityCheck('1->2', 'posts', up.changes!['posts']!, posts, reactions);
    for (let i = 0; i < 100; i++) check(i, before(i), after(i));
    return check;
  };

  it.each([
    ['a field it does not declare changed, deep inside', { ...after(100), replies: ['r100', 'r7'] }, /replies\.length was .*but posts\.replies is not declared changed/],
    ['a field it does not declare changed', { ...after(100), at: 7 }, /at was 100, is 7, but posts\.at is not declared changed/],
    ['a field it does not declare added, in place of one it does', (({ reactions: _r, ...rest }) => ({ ...rest, hearts: {} }))(after(100)), /hearts is new, but posts\.hearts is not declared added/],
    ['no field it declares added', (({ reactions: _r, ...rest }) => rest)(after(100)), /posts\.reactions is declared added, but it is missing/],
    ['a field it declares removed, still there', { ...after(100), likes: ['u2'] }, /posts\.likes is declared removed, but it is still there/],
  ])('after a hundred honest posts, a post with %s is refused', (_what, bad, message) => {
    const check = honest();
    expect(() => check(100, before(100), bad)).toThrow(message);
    // and the same check keeps taking honest posts
    expect(() => check(101, before(101), after(101))).not.toThrow();
  });
});
