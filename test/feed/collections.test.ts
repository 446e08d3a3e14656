/**
 * The collections of src/feed/lib: reading in slices, what changed between two values (by node
 * identity, so only the difference is walked), and building new values by path copies.
 */
import { describe, expect, it } from 'vitest';
import { freeze, produce } from 'immer';
import { trie, vec, vecChanged, vecWithMany } from '../../src/feed/lib/collections.ts';
import { emptyTrie, toTrie, trieForEach, trieProblems, trieSet, trieDelete, type Trie } from '../../src/feed/v1/trie.ts';
import { fromVec, toVec, vecProblem, vecPush, vecSet, type Vec } from '../../src/feed/v1/vec.ts';

const numbers = (n: number) => Array.from({ length: n }, (_, i) => ({ n: i }));
const posts = vec((s: { v: Vec<unknown> }) => s.v, { tombstone: null });

function readAll(c: typeof posts, value: unknown, max: number): (readonly [unknown, unknown])[] {
  const out: (readonly [unknown, unknown])[] = [];
  let cursor: unknown = null;
  do {
    const { keys, values, next } = c.read(value, cursor, max);
    keys.forEach((k, i) => out.push([k, values[i]]));
    cursor = next;
  } while (cursor !== null);
  return out;
}

describe('vec collection', () => {
  it('reads every entry once, in order, in slices of any size', () => {
    const items = numbers(1500);
    const v = freeze(toVec(items), true);
    for (const max of [1, 7, 32, 100, 5000]) {
      const seen = readAll(posts, v, max);
      expect(seen.map(([k]) => k)).toEqual(items.map((_, i) => i));
      expect(seen.map(([, e]) => e)).toEqual(items);
    }
    expect(readAll(posts, toVec([]), 10)).toEqual([]);
  });

  it('finds exactly the positions a change touched, including appends across a root split', () => {
    for (const size of [0, 5, 32, 1024, 1500]) {
      const before = freeze(toVec(numbers(size)), true);
      const after = produce(before, (d) => {
        if (size > 3) vecSet(d, 3, { n: -3 });
        if (size > 1000) vecSet(d, 1000, { n: -1 });
        vecPush(d, { n: size });
        vecPush(d, { n: size + 1 });
      });
      const expected = [...(size > 3 ? [3] : []), ...(size > 1000 ? [1000] : []), size, size + 1];
      expect(vecChanged(before, after)).toEqual(expected);
      expect(posts.changed(before, before)).toEqual([]);
    }
  });

  it('walks only the difference: unchanged subtrees are skipped by identity', () => {
    const before = freeze(toVec(numbers(100_000)), true);
    const after = produce(before, (d) => void vecSet(d, 77_777, { n: 0 }));
    const t = performance.now();
    for (let i = 0; i < 1000; i++) vecChanged(before, after);
    // a full walk of 100k entries a thousand times would take seconds; the diff is a few nodes deep
    expect(vecChanged(before, after)).toEqual([77_777]);
    expect(performance.now() - t).toBeLessThan(2000);
  });

  it('sets and appends entries in batches, making a well-formed vector that shares untouched leaves', () => {
    const items = numbers(3000);
    const before = freeze(toVec(items), true);
    const updates: [number, unknown][] = [
      [0, { n: 'a' }],
      [1, { n: 'b' }],
      [2999, { n: 'z' }],
      ...numbers(1200).map((x, i) => [3000 + i, x] as [number, unknown]),
    ];
    const after = vecWithMany(before, updates.map(([k]) => k), updates.map(([, v]) => v));
    expect(vecProblem(after)).toBeNull();
    const expected = [...items];
    for (const [i, v] of updates) expected[i] = v as { n: number };
    expect(fromVec(after)).toEqual(expected);
    expect(fromVec(before)).toEqual(items); // the input is untouched
    expect((after.root as unknown[][])[1]).toBe((before.root as unknown[][])[1]); // a leaf-group nobody touched
    expect(Object.isFrozen(after.root)).toBe(true);
    expect(() => vecWithMany(before, [3001], [{}])).toThrow(/past the end/);
    expect(() => vecWithMany(before, [5], [undefined])).toThrow(/never removes/);
    // from empty, entry by entry through every height
    const built = vecWithMany(toVec([]), numbers(33_000).map((_, i) => i), numbers(33_000));
    expect(vecProblem(built)).toBeNull();
    expect(fromVec(built)).toEqual(numbers(33_000));
  });
});

describe('trie collection', () => {
  const sessions = trie((s: { t: Trie }) => s.t);
  const pairs = (n: number) => Array.from({ length: n }, (_, i) => [`token-${i}`, `u${i % 7}`] as [string, string]);

  it('reads every pair once in slices', () => {
    const t = freeze(toTrie(pairs(2000)), true);
    const seen = new Map<unknown, unknown>();
    let cursor: unknown = null;
    do {
      const { keys, values, next } = sessions.read(t, cursor, 100);
      keys.forEach((k, i) => {
        expect(seen.has(k)).toBe(false);
        seen.set(k, values[i]);
      });
      cursor = next;
    } while (cursor !== null);
    expect(seen).toEqual(new Map(pairs(2000)));
  });

  it('finds the keys set, changed and removed, and builds new tries by path copies', () => {
    const before = freeze(toTrie(pairs(5000)), true);
    const after = produce(before, (d) => {
      trieSet(d, 'token-17', 'u99');
      trieSet(d, 'brand-new', 'u1');
      trieDelete(d, 'token-4000');
    });
    expect(sessions.changed(before, after).sort()).toEqual(['brand-new', 'token-17', 'token-4000']);
    expect(sessions.changed(after, after)).toEqual([]);
    const rebuilt = sessions.with(before, ['token-17', 'brand-new', 'token-4000'], ['u99', 'u1', undefined]) as Trie;
    expect(trieProblems(rebuilt, (p) => expect.fail(p))).toBe(true);
    const a = new Map<string, string>();
    trieForEach(rebuilt, (k, v) => void a.set(k, v));
    const b = new Map<string, string>();
    trieForEach(after, (k, v) => void b.set(k, v));
    expect(a).toEqual(b);
    expect(sessions.lookup(rebuilt, 'token-17')).toBe('u99');
    expect(sessions.lookup(rebuilt, 'token-4000')).toBeUndefined();
    expect(sessions.with(null, ['k'], ['v'])).toMatchObject({ size: 1 });
    expect(sessions.changed(emptyTrie(), toTrie([['k', 'v']]))).toEqual(['k']);
  });
});
