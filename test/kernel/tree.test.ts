/**
 * The whole-state digest the two processes compare (src/kernel/migrate/tree.ts): of content, never
 * identity; the same however the state was built (collections filled in slices of any size) and
 * however it is run (in one go, in slices, with digests kept from before); and one difference
 * anywhere shows, named by where it is.
 */
import { describe, expect, it } from 'vitest';
import { TreeDigest, treeDiffers, treeOf } from '../../src/kernel/migrate/tree.ts';
import { checkPlain } from '../../src/kernel/plain.ts';
import { trie, vec } from '../../src/feed/lib/collections.ts';

const post = (i: number, text = `post ${i}`) => ({ id: `p${i}`, author: `u${i % 7}`, text, at: 1_700_000_000_000 + i, replyTo: null, replies: [] as number[], reactions: i % 3 ? { '❤️': ['u2', 'u3'] } : {} });

const posts = vec((s: { posts: never }) => s.posts, { tombstone: null });
const handles = trie((s: { handles: never }) => s.handles);

/** A state with `n` posts and handles, its collections built by `with` in batches of `batch`. */
function built(n: number, batch: number): { posts: unknown; handles: unknown; count: { posts: number } } {
  let p: unknown = null;
  let h: unknown = null;
  for (let i = 0; i < n; i += batch) {
    const keys = Array.from({ length: Math.min(batch, n - i) }, (_, j) => i + j);
    p = posts.with(p, keys, keys.map((k) => (k % 11 === 5 ? null : post(k))));
    h = handles.with(h, keys.map((k) => `user${k}`), keys.map((k) => `u${k}`));
  }
  const state = { posts: p, handles: h, count: { posts: n } };
  checkPlain(state, null, 'test', 'state'); // checked and deep-frozen, as the digest requires
  return state;
}

/** The digest of `state` run in slices of `budget` entries. */
function sliced(state: unknown, budget: number): { h: string; runs: number } {
  const d = new TreeDigest(state);
  let runs = 1;
  while (!d.run(budget)) runs++;
  return { h: d.result().h, runs };
}

describe('the whole-state digest', () => {
  it('is the same for a copy, for collections filled in slices of any size, and however it is run', () => {
    const whole = built(5000, 5000);
    const h = treeOf(whole).h;
    // a copy (the rehearsal's mirror crossed msgpack) has no kept digests: every node is read
    expect(treeOf(JSON.parse(JSON.stringify(whole))).h).toBe(h);
    for (const batch of [1, 7, 256, 1024]) expect(treeOf(built(5000, batch)).h).toBe(h);
    const s = sliced(built(5000, 300), 500);
    expect(s.h).toBe(h);
    expect(s.runs).toBeGreaterThan(10);
    // run again, every big node's digest kept from the first run
    expect(treeOf(whole).h).toBe(h);
  });

  it('after a path copy, kept digests of the shared nodes give what a fresh digest of a copy gives', () => {
    const before = built(3000, 3000);
    treeOf(before);
    const next = { ...before, posts: posts.with(before.posts, [1234, 3000], [post(1234, 'edited'), post(3000)]) };
    checkPlain(next, before, 'test', 'state');
    const kept = treeOf(next);
    expect(kept.h).not.toBe(treeOf(before).h);
    expect(kept.h).toBe(treeOf(JSON.parse(JSON.stringify(next))).h);
  });

  it.each([
    ['one character of a text deep in a collection', (s: any) => ({ ...s, posts: posts.with(s.posts, [4321], [post(4321, 'post 4322')]) })],
    ['a number by one', (s: any) => ({ ...s, count: { posts: s.count.posts + 1 } })],
    ['a string for a number', (s: any) => ({ ...s, count: { posts: String(s.count.posts) } })],
    ['a post deleted (its tombstone)', (s: any) => ({ ...s, posts: posts.with(s.posts, [17], [null]) })],
    ['a handle gone', (s: any) => ({ ...s, handles: handles.with(s.handles, ['user99'], [undefined]) })],
    ['two keys swapped in order', ({ posts: p, handles: h, count }: any) => ({ handles: h, posts: p, count })],
  ])('differs for %s, and names where', (_what, change) => {
    const state = built(5000, 1000);
    const next = change(state);
    checkPlain(next, state, 'test', 'state');
    const a = treeOf(state);
    const b = treeOf(next);
    expect(b.h).not.toBe(a.h);
    expect(treeDiffers(b, a)).not.toBeNull();
    expect(treeDiffers(a, a)).toBeNull();
  });

  it('names the deepest path it knows where two states part', () => {
    const state = built(3000, 3000);
    // 3,000 posts: a root over three nodes of up to 1,024 posts each; post 1,234 is in the second
    const next = { ...state, posts: posts.with(state.posts, [1234], [post(1234, 'other')]) };
    checkPlain(next, state, 'test', 'state');
    expect(treeDiffers(treeOf(next), treeOf(state))).toBe('posts.root.1');
    // what the state holds outside its collections' nodes is not named by a path
    const counted = { ...state, count: { posts: 1 } };
    checkPlain(counted, state, 'test', 'state');
    expect(treeDiffers(treeOf(counted), treeOf(state))).toBe('');
  });

  it('reads every character of strings of every kind: one-byte, wider, with surrogates, and longer than its buffer', () => {
    const long = 'x'.repeat(300_000);
    const pairs: [string, string][] = [
      ['post number 1000', 'post number 1001'],
      ['odd', 'ode'],
      ['café', 'cafe'],
      ['emoji 😂 here', 'emoji 😃 here'],
      [`${long}a`, `${long}b`],
      [`${long}😂`, `${long}😃`],
      [`a${long}`, `b${long}`],
      ['ab', 'a\u0000b'],
    ];
    for (const [a, b] of pairs) {
      expect(treeOf({ text: a }).h, `${a.slice(0, 20)} / ${b.slice(0, 20)}`).not.toBe(treeOf({ text: b }).h);
      expect(treeOf({ text: a }).h).toBe(treeOf({ text: a.slice(0) }).h);
    }
    // one-byte units and the same units a word each are different strings only if their units differ
    expect(treeOf(['\u00e9']).h).not.toBe(treeOf(['\u0100']).h);
    // a lone surrogate is read as the copy to the rehearsal carries it: U+FFFD
    expect(treeOf({ text: 'cut short \uD83D' }).h).toBe(treeOf({ text: 'cut short \uFFFD' }).h);
    expect(treeOf({ text: `${long}\uD83D` }).h).toBe(treeOf({ text: `${long}\uFFFD` }).h);
  });

  it('is the same whether a node is hashed in one go or in parts as its buffer fills, and whether it was digested before', () => {
    const make = () => ({
      a: 'x'.repeat(100_000),
      // a wide node bigger than the buffer, opened while the state's own words fill it too
      inner: Array.from({ length: 40 }, (_, i) => `${'y'.repeat(5_000)}${i}`),
      b: 'z'.repeat(100_000),
    });
    const fresh = treeOf(make()).h;
    const other = make();
    treeOf({ other: other.inner }); // its digest kept: the state's bytes now hold a reference, no parts
    expect(treeOf(other).h).toBe(fresh);
    expect(treeOf({ ...make(), b: 'z'.repeat(99_999) + 'y' }).h).not.toBe(fresh);
  });

  it('names a bounded number of paths, each of bounded length, however many and long the keys', () => {
    const wide: Record<string, unknown> = {};
    for (let i = 0; i < 3000; i++) wide[`${'k'.repeat(i % 2 ? 1000 : 10)}${i}`] = Array.from({ length: 32 }, (_, j) => i + j);
    const { paths } = treeOf({ wide });
    expect(Object.keys(paths).length).toBeLessThanOrEqual(256);
    expect(Object.keys(paths).length).toBeGreaterThan(100);
    expect(Math.max(...Object.keys(paths).map((p) => p.length))).toBeLessThanOrEqual(200);
  });

  it('walks a state nested far deeper than the stack would allow, in bounded runs', () => {
    let deep: unknown = { end: true };
    for (let i = 0; i < 100_000; i++) deep = { next: deep, i };
    const a = sliced({ deep }, 1000);
    expect(a.runs).toBeGreaterThan(50);
    let other: unknown = { end: false };
    for (let i = 0; i < 100_000; i++) other = { next: other, i };
    expect(treeOf({ deep: other }).h).not.toBe(a.h);
    expect(treeOf({ deep }).h).toBe(a.h);
  });
});
