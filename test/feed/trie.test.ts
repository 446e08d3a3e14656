import { describe, expect, it } from 'vitest';
import { freeze, produce } from 'immer';
import { BUCKET, emptyTrie, fnv1a, toTrie, trieDelete, trieForEach, trieGet, trieProblems, trieSet, trieSize, type Node, type Trie } from '../../src/feed/v1/trie.ts';

function problems(trie: unknown): string[] {
  const out: string[] = [];
  trieProblems(trie, (p) => out.push(p));
  return out;
}

/** Every node and bucket of a trie, for counting what a change shared with the original. */
function parts(trie: Trie): Set<unknown[]> {
  const out = new Set<unknown[]>();
  const walk = (node: Node): void => {
    out.add(node);
    for (const slot of node) {
      if (slot === null) continue;
      if (typeof slot[0] === 'string') out.add(slot);
      else walk(slot as Node);
    }
  };
  walk(trie.root);
  return out;
}

function depth(trie: Trie): number {
  let max = 0;
  const walk = (node: Node, d: number): void => {
    max = Math.max(max, d);
    for (const slot of node) if (slot !== null && typeof slot[0] !== 'string') walk(slot as Node, d + 1);
  };
  walk(trie.root, 1);
  return max;
}

describe('trie', () => {
  it('hashes with 32-bit FNV-1a', () => {
    // reference values of FNV-1a 32
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });

  it('stores, finds, replaces and removes keys, including ones named like Object.prototype members', () => {
    const trie = emptyTrie();
    for (const key of ['alice', '__proto__', 'constructor', 'toString']) trieSet(trie, key, `v-${key}`);
    expect(trieGet(trie, '__proto__')).toBe('v-__proto__');
    expect(trieGet(trie, 'constructor')).toBe('v-constructor');
    expect(trieGet(trie, 'hasOwnProperty')).toBeUndefined();
    trieSet(trie, 'alice', 'again');
    expect(trieGet(trie, 'alice')).toBe('again');
    expect(trieSize(trie)).toBe(4);
    expect(trieDelete(trie, 'alice')).toBe(true);
    expect(trieDelete(trie, 'alice')).toBe(false);
    expect(trieSize(trie)).toBe(3);
    const seen: [string, string][] = [];
    trieForEach(trie, (key, value) => seen.push([key, value]));
    expect(seen.map(([k]) => k).sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expect(problems(trie)).toEqual([]);
  });

  it('keeps keys and values apart in a bucket (a value may spell another key)', () => {
    const trie = toTrie([['u12', 'u5'], ['u5', 'u12']]);
    expect(trieGet(trie, 'u12')).toBe('u5');
    expect(trieGet(trie, 'u5')).toBe('u12');
    expect(problems(trie)).toEqual([]);
  });

  it('splits buckets as it grows and stays shallow: 100k keys are at most 5 levels deep', () => {
    const trie = emptyTrie();
    const n = 100_000;
    for (let i = 0; i < n; i++) trieSet(trie, `user_${i}`, `u${i + 1}`);
    expect(trieSize(trie)).toBe(n);
    expect(depth(trie)).toBeLessThanOrEqual(5);
    expect(problems(trie)).toEqual([]);
    for (let i = 0; i < n; i += 997) expect(trieGet(trie, `user_${i}`)).toBe(`u${i + 1}`);
    for (let i = 0; i < n; i++) if (i % 3 !== 0) trieDelete(trie, `user_${i}`);
    expect(trieSize(trie)).toBe(Math.ceil(n / 3));
    expect(problems(trie)).toEqual([]);
    expect(trieGet(trie, 'user_3')).toBe('u4');
    expect(trieGet(trie, 'user_4')).toBeUndefined();
    for (let i = 0; i < n; i += 3) trieDelete(trie, `user_${i}`);
    // every emptied node went too: back to the empty trie
    expect(trie).toEqual(emptyTrie());
  });

  it('splits a full bucket as deep as the hashes of its keys agree, even for a handful of keys', () => {
    // more than BUCKET keys whose hashes share their low 15 bits: they part only at the fourth level
    const groups = new Map<number, string[]>();
    let keys: string[] = [];
    for (let i = 0; keys.length <= BUCKET; i++) {
      const key = `k${i}`;
      const low = fnv1a(key) & 0x7fff;
      const group = groups.get(low) ?? [];
      group.push(key);
      groups.set(low, group);
      if (group.length > BUCKET) keys = group;
    }
    const trie = toTrie(keys.map((key) => [key, key.toUpperCase()] as const));
    expect(depth(trie)).toBeGreaterThanOrEqual(4);
    for (const key of keys) expect(trieGet(trie, key)).toBe(key.toUpperCase());
    expect(problems(trie)).toEqual([]);
    for (const key of keys) trieDelete(trie, key);
    expect(trie).toEqual(emptyTrie());
  });

  it('copies one path (nodes of 32 and one small bucket) when a key is added or removed through immer', () => {
    const before = freeze(toTrie(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, `v${i}`] as const)), true);
    const old = parts(before);
    const added = produce(before, (draft) => trieSet(draft, 'newcomer', 'u0'));
    const fresh = [...parts(added)].filter((part) => !old.has(part));
    expect(fresh.length).toBeLessThanOrEqual(depth(before) + 2);
    expect(fresh.every((part) => part.length <= 32)).toBe(true);
    expect(trieGet(added, 'newcomer')).toBe('u0');
    expect(trieGet(before, 'newcomer')).toBeUndefined();
    const removed = produce(added, (draft) => void trieDelete(draft, 'k123'));
    expect(trieGet(removed, 'k123')).toBeUndefined();
    expect(trieSize(removed)).toBe(50_000);
    expect(problems(removed)).toEqual([]);
  });

  it('names what is wrong with a malformed trie, never quoting a key', () => {
    const good = toTrie([['secret-token', 'u1']]);
    const at = good.root.findIndex((slot) => slot !== null);
    const moved = structuredClone(good);
    moved.root[(at + 1) % 32] = moved.root[at]!;
    moved.root[at] = null;
    expect(problems(moved)).toEqual([`root[${(at + 1) % 32}]: a key is not where its hash puts it`]);
    expect(problems({ ...good, size: 2 })).toEqual(['size is 2, holds 1 keys']);
    expect(problems({ size: 0, root: [] })).toEqual(['root is not a node of 32 slots']);
    expect(problems([])).toEqual(['not a {size, root} trie']);
    const odd = structuredClone(good);
    (odd.root[at] as string[]).push('dangling');
    expect(problems(odd)[0]).toMatch(/is a bucket of 3 strings/);
    const twice = structuredClone(good);
    (twice.root[at] as string[]).push('secret-token', 'u2');
    expect(problems(twice)).toEqual([`root[${at}]: a key is stored twice`]);
    expect(problems(twice).join()).not.toMatch(/secret/);
  });
});
