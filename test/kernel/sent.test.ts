/**
 * Commands, replies and events are checked by a lean path first (no walk object, no stacks), and only
 * what it does not accept goes through the full walk, which names the problem. The lean path must
 * never accept what the walk refuses, and must count the same bytes: each case here is built twice,
 * fresh, and checked both ways.
 */
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, checkPlain, checkSent, estimateBytes } from '../../src/kernel/plain.ts';

type What = 'reply' | 'event' | 'command';

/** What a check gives: its bytes, or the message it threw. */
function outcome(check: () => number): { bytes: number } | { error: string } {
  try {
    return { bytes: check() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function nested(depth: number, leaf: unknown): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = { v };
  return v;
}

const plain: Record<string, () => unknown> = {
  'a thread reply': () => ({ post: { id: 'p1', author: { id: 'u1', handle: 'ann' }, text: 'hi', at: 1_790_000_000_000, replyTo: null, replies: 0, likes: 2, liked: false }, replies: [] }),
  'a command': () => ({ type: 'thread', post: 'p1' }),
  'arrays of arrays and every kind of value': () => ({ a: [[1, 'two', null, true, undefined], [], [{}]], n: -1.5, zero: 0, s: 'é😀' }),
  'a null-prototype object': () => Object.assign(Object.create(null) as object, { a: 1, b: ['x'] }),
  "another realm's plain object and array": () => runInNewContext('({ a: [1, { b: "c" }] })'),
  'undefined alone': () => undefined,
  'a string alone': () => 'text',
  'nesting at the limit': () => nested(MAX_DEPTH, 'leaf'),
};

const refused: Record<string, () => unknown> = {
  'a getter': () => ({ a: 1, get b() { return 2; } }),
  'a setter alone': () => Object.defineProperty({ a: 1 }, 'b', { set() {}, enumerable: true }),
  'a getter on an array index': () => Object.defineProperty([1, 2], 1, { get: () => 3, enumerable: true }),
  'a symbol key': () => ({ a: 1, [Symbol('s')]: 2 }),
  'a symbol key on an array': () => Object.assign([1], { [Symbol('s')]: 2 }),
  'a non-enumerable key': () => Object.defineProperty({ a: 1 }, 'hidden', { value: 2, enumerable: false }),
  'a named property on an array': () => Object.assign([1, 2], { extra: 3 }),
  'a non-enumerable index': () => Object.defineProperty([1, 2], 0, { value: 1, enumerable: false }),
  'a hole': () => [1, , 3], // eslint-disable-line no-sparse-arrays
  'a Proxy': () => ({ a: new Proxy({}, {}) }),
  'a Proxy at the root': () => new Proxy({ a: 1 }, {}),
  '-0': () => ({ a: [-0] }),
  'NaN': () => ({ a: Number.NaN }),
  'Infinity': () => [Infinity],
  'a BigInt': () => ({ a: 1n }),
  'a function': () => ({ f() {} }),
  'a symbol value': () => ({ s: Symbol('v') }),
  'a Date': () => ({ at: new Date(0) }),
  'a typed array': () => ({ bytes: new Uint8Array(4) }),
  'a Map': () => ({ m: new Map() }),
  'a class instance': () => ({ p: new (class Point { x = 1; })() }),
  'an inherited enumerable key': () => ({ o: Object.create({ inherited: 1 }) as object }),
  'an array with a prototype of its own': () => Object.setPrototypeOf([1], Object.create(Array.prototype) as object),
  'a key named __proto__': () => JSON.parse('{"a": {"__proto__": 1}}'),
  'nesting past the limit': () => nested(MAX_DEPTH + 2, 'leaf'),
  'deep trouble': () => nested(40, { list: [1, 2, { x: Number.NaN }] }),
  'a cycle': () => {
    const a: Record<string, unknown> = { n: 1 };
    a['self'] = { back: a };
    return a;
  },
};

describe('the lean check of what is sent agrees with the full walk', () => {
  const whats: What[] = ['reply', 'event', 'command'];

  it.each(Object.entries(plain))('accepts %s, counts the bytes the walk counts and freezes it all', (_, make) => {
    for (const what of whats) {
      const value = make();
      const lean = outcome(() => checkSent(value, 'where', what, Infinity));
      expect(lean).toEqual(outcome(() => checkPlain(make(), null, 'where', what).bytes));
      expect(lean).toEqual({ bytes: estimateBytes(value) });
      const open: unknown[] = [];
      const visit = (v: unknown) => {
        if (typeof v !== 'object' || v === null) return;
        if (!Object.isFrozen(v)) open.push(v);
        for (const k of Object.keys(v)) visit((v as Record<string, unknown>)[k]);
      };
      visit(value);
      expect(open).toEqual([]);
    }
  });

  it.each(Object.entries(refused))('refuses %s with the message the walk gives', (_, make) => {
    for (const what of whats) {
      const lean = outcome(() => checkSent(make(), 'where', what, Infinity));
      expect(lean).toHaveProperty('error');
      expect(lean).toEqual(outcome(() => checkPlain(make(), null, 'where', what).bytes));
    }
  });

  it('refuses what is larger than its bound, whatever part of it goes over', () => {
    const make = () => ({ a: 'x'.repeat(40), list: [{ b: 'y'.repeat(40) }, { c: 'z'.repeat(40) }] });
    const total = estimateBytes(make());
    expect(checkSent(make(), 'where', 'reply', total)).toBe(total);
    for (const max of [total - 1, 60, 10, 0]) {
      const lean = outcome(() => checkSent(make(), 'where', 'reply', max));
      expect(lean).toEqual({ error: expect.stringMatching(/^where: the reply is larger than/) });
      expect(lean).toEqual(outcome(() => checkPlain(make(), null, 'where', 'reply', max).bytes));
    }
  });

  it('runs no getter while it looks, even one it refuses', () => {
    let ran = 0;
    const value = { a: [1, 2], get b() { ran++; return 1; } };
    expect(() => checkSent(value, 'where', 'reply', Infinity)).toThrow(/getter or setter at b/);
    expect(ran).toBe(0);
  });
});
