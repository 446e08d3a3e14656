import { describe, expect, it } from 'vitest';
import { freeze, produce } from 'immer';
import {
  emptyVec,
  fromVec,
  toVec,
  vecForEach,
  vecGet,
  vecLength,
  vecMap,
  vecProblem,
  vecPush,
  vecSet,
  vecWith,
  WIDTH,
  type Node,
  type Vec,
} from '../../src/feed/v1/vec.ts';

const range = (n: number, f: (i: number) => number = (i) => i * 3): number[] => Array.from({ length: n }, (_, i) => f(i));

/** Every node of a vector, for counting what a change shared with the original. */
function nodes(v: Vec<unknown>): Set<Node> {
  const out = new Set<Node>();
  const walk = (node: Node, shift: number): void => {
    out.add(node);
    if (shift > 0) for (const child of node) walk(child as Node, shift - 5);
  };
  walk(v.root, v.shift);
  return out;
}

describe('vec', () => {
  it('grows a level every 32x: 32 entries fit a leaf, 1024 two levels, 1M four', () => {
    expect(toVec(range(32)).shift).toBe(0);
    expect(toVec(range(33)).shift).toBe(5);
    expect(toVec(range(1024)).shift).toBe(5);
    expect(toVec(range(1025)).shift).toBe(10);
    expect(toVec(range(1_000_000)).shift).toBe(15);
    expect(emptyVec()).toEqual({ size: 0, shift: 0, root: [] });
  });

  it.each([0, 1, 31, 32, 33, 1023, 1024, 1025, 32 * 32 * 32 + 7])('finds every entry of a list of %i', (n) => {
    const items = range(n);
    const v = toVec(items);
    expect(vecLength(v)).toBe(n);
    expect(vecProblem(v)).toBeNull();
    for (let i = 0; i < n; i++) if (vecGet(v, i) !== items[i]) throw new Error(`entry ${i}`);
    expect(fromVec(v)).toEqual(items);
    const seen: number[] = [];
    vecForEach(v, (value, i) => {
      expect(i).toBe(seen.length);
      seen.push(value);
    });
    expect(seen).toEqual(items);
  });

  it('answers undefined outside the list', () => {
    const v = toVec([1, 2]);
    for (const i of [-1, 2, 1.5, NaN, 5000, 2 ** 32, Infinity]) expect(vecGet(v, i)).toBeUndefined();
    expect(vecGet(emptyVec(), 0)).toBeUndefined();
  });

  it('builds the same tree by pushing one at a time as from a whole array', () => {
    for (const n of [0, 1, 32, 33, 1024, 1025, 5000]) {
      const v = emptyVec<number>();
      for (let i = 0; i < n; i++) expect(vecPush(v, i * 3)).toBe(i);
      expect(v).toEqual(toVec(range(n)));
      expect(vecProblem(v)).toBeNull();
    }
  });

  it('copies one node per level when an entry is set through immer', () => {
    const before = freeze(toVec(range(40_000, (i) => i)), true); // 3 levels under the root
    const after = produce(before, (draft) => vecSet(draft, 12_345, -1));
    expect(vecGet(after, 12_345)).toBe(-1);
    expect(vecGet(before, 12_345)).toBe(12_345);
    const old = nodes(before);
    const fresh = [...nodes(after)].filter((node) => !old.has(node));
    expect(fresh).toHaveLength(4); // root, two inner nodes, one leaf
    expect(fresh.every((node) => node.length <= WIDTH)).toBe(true);
  });

  it('copies one path when an entry is pushed through immer, adding a level when the root is full', () => {
    const before = freeze(toVec(range(1024, (i) => i)), true);
    const after = produce(before, (draft) => void vecPush(draft, 1024));
    expect(after.shift).toBe(10);
    expect(after.root[0]).toBe(before.root);
    expect(vecProblem(after)).toBeNull();
    expect(fromVec(after)).toEqual(range(1025, (i) => i));
    const again = produce(after, (draft) => void vecPush(draft, 1025));
    expect((again.root[0] as Node)).toBe(before.root);
    expect(vecGet(again, 1025)).toBe(1025);
  });

  it('refuses to set an entry past the end', () => {
    expect(() => vecSet(toVec([1]), 1, 2)).toThrow(RangeError);
    expect(() => vecWith(toVec([1]), -1, 2)).toThrow(RangeError);
  });

  it('sets with a plain path copy, leaving the input as it was', () => {
    const before = freeze(toVec(range(2000)), true);
    const after = vecWith(before, 1500, -5);
    expect(vecGet(after, 1500)).toBe(-5);
    expect(vecGet(before, 1500)).toBe(4500);
    expect(after.root[0]).toBe(before.root[0]);
    expect(vecProblem(after)).toBeNull();
  });

  it('maps with plain loops, reusing every subtree whose entries come back the same', () => {
    const before = freeze(toVec(range(5000, (i) => i)), true);
    expect(vecMap(before, (x) => x)).toBe(before);
    const after = vecMap(before, (x, i) => (i === 4000 ? -x : x));
    expect(fromVec(after)).toEqual(range(5000, (i) => (i === 4000 ? -i : i)));
    const old = nodes(before);
    expect([...nodes(after)].filter((node) => !old.has(node))).toHaveLength(3);
    const doubled = vecMap(before, (x) => String(x * 2));
    expect(vecGet(doubled, 4999)).toBe('9998');
    expect(vecProblem(doubled)).toBeNull();
  });

  it('names what is wrong with a malformed vector', () => {
    const v = toVec(range(100));
    expect(vecProblem([1, 2])).toMatch(/not a \{size, shift, root\}/);
    expect(vecProblem({ ...v, size: 101 })).toMatch(/root\[3\] has 4 entries, expected 5/);
    expect(vecProblem({ ...v, shift: 10 })).toMatch(/shift 10 for 100 entries/);
    expect(vecProblem({ ...v, root: [...v.root.slice(0, 3), 7] })).toMatch(/root\[3\] is not a node/);
    expect(vecProblem({ ...v, extra: 1 })).toMatch(/not a/);
    expect(vecProblem({ size: 1.5, shift: 0, root: [] })).toMatch(/size 1.5/);
  });
});
