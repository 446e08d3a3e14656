/**
 * Collections: where a version's entities live in its state, in the form the kernel's migration
 * runner and its checks read (src/contract.ts, Collection). Two layouts, the two the feed is built of:
 *
 *   vec(get)    a persistent vector (vec.ts); the key is the position (a post's slot), order matters
 *   trie(get)   a persistent hash trie (trie.ts) of string -> string; the key is the trie key
 *
 * Everything here reads frozen states and builds new values by path copies, sharing what is untouched.
 * `changed` walks two values of a collection in parallel and stops wherever a node is the very same
 * object on both sides, so its cost is the size of the difference, not of the collection.
 */
import type { Collection, Key } from '../../contract.ts';
import { BUCKET, fnv1a, trieDelete, trieGet, trieSet, type Node as TrieNode, type Trie, type TrieLike } from './trie.ts';
import { BITS, WIDTH, type Node, type Vec, type VecLike } from './vec.ts';

const MASK = WIDTH - 1;

export interface VecOptions {
  /** The entity's name in messages, e.g. (slot) => `post p${slot + 1}`. Default: "entry <key>". */
  name?(key: number, entity: unknown): string;
  /** What a deleted entity leaves in its slot (posts: null). The runner passes it through untouched. */
  tombstone?: null;
}

/** A vector collection inside a state: `vec((s) => s.posts, {tombstone: null})`. */
export function vec<S>(get: (state: S) => VecLike<unknown>, options: VecOptions = {}): Collection<S> {
  const name = options.name ?? ((key: number) => `entry ${key}`);
  return {
    layout: 'vec',
    ordered: true,
    ...('tombstone' in options ? { tombstone: options.tombstone } : {}),
    get: (state) => get(state),
    size: (c) => (c as VecLike<unknown>).size,
    read(c, cursor, max) {
      const v = c as VecLike<unknown>;
      const from = cursor === null || cursor === undefined ? 0 : (cursor as number);
      const to = Math.min(v.size, from + Math.max(1, max));
      const keys: number[] = new Array(to - from);
      const values: unknown[] = new Array(to - from);
      for (let i = from; i < to; ) {
        const leaf = leafAt(v, i);
        const end = Math.min(to, (i | MASK) + 1);
        for (; i < end; i++) {
          keys[i - from] = i;
          values[i - from] = leaf[i & MASK];
        }
      }
      return { keys, values, next: to < v.size ? to : null };
    },
    lookup(c, key) {
      const v = c as VecLike<unknown>;
      return typeof key === 'number' && key >>> 0 === key && key < v.size ? leafAt(v, key)[key & MASK] : undefined;
    },
    changed: (a, b) => vecChanged(a as VecLike<unknown>, b as VecLike<unknown>),
    with: (base, keys, values) => vecWithMany((base as VecLike<unknown> | null) ?? { size: 0, shift: 0, root: [] }, keys as number[], values),
    name: (key, entity) => name(key as number, entity),
  };
}

export interface TrieOptions {
  /** The entity's name in messages. Never quote a secret key (session tokens): default "an entry". */
  name?(key: string, value: unknown): string;
}

/** A trie collection inside a state: `trie((s) => s.sessions, {name: (_, user) => \`a session of ${user}\`})`. */
export function trie<S>(get: (state: S) => TrieLike, options: TrieOptions = {}): Collection<S> {
  const name = options.name ?? (() => 'an entry');
  return {
    layout: 'trie',
    ordered: false,
    get: (state) => get(state),
    size: (c) => (c as TrieLike).size,
    // the cursor is a slot of the root: a slice reads whole top-level subtrees until it has `max` pairs
    read(c, cursor, max) {
      const root = (c as TrieLike).root;
      const keys: string[] = [];
      const values: string[] = [];
      let slot = cursor === null || cursor === undefined ? 0 : (cursor as number);
      for (; slot < WIDTH && keys.length < max; slot++)
        eachPair(root[slot] ?? null, (k, v) => {
          keys.push(k);
          values.push(v);
        });
      return { keys, values, next: slot < WIDTH ? slot : null };
    },
    lookup: (c, key) => (typeof key === 'string' ? trieGet(c as TrieLike, key) : undefined),
    changed(a, b) {
      const keys: string[] = [];
      trieChanged((a as TrieLike).root, (b as TrieLike).root, keys);
      return keys;
    },
    with(base, keys, values) {
      const t: Trie = base === null ? { size: 0, root: emptyRoot() } : { size: (base as TrieLike).size, root: (base as TrieLike).root };
      for (let i = 0; i < keys.length; i++) {
        const value = values[i];
        if (value === undefined) trieDelete(t, String(keys[i]));
        else trieSet(t, String(keys[i]), value as string);
      }
      return t;
    },
    name: (key, value) => name(String(key), value),
  };
}

// ---------------------------------------------------------------- vectors

/** The leaf holding entry `i` (which must be in range). */
function leafAt(v: VecLike<unknown>, i: number): readonly unknown[] {
  let node = v.root;
  for (let s = v.shift; s > 0; s -= BITS) node = node[(i >>> s) & MASK] as Node;
  return node;
}

/** Positions whose entries differ by identity, in order, plus every position only one side has. */
export function vecChanged(a: VecLike<unknown>, b: VecLike<unknown>): number[] {
  const out: number[] = [];
  if (a.root === b.root && a.size === b.size) return out;
  const common = Math.min(a.size, b.size);
  if (common > 0) {
    // bring both to the same height: the taller tree's leftmost subtree covers the smaller one's range
    let na = a.root;
    let nb = b.root;
    let shift = Math.min(a.shift, b.shift);
    for (let s = a.shift; s > shift; s -= BITS) na = na[0] as Node;
    for (let s = b.shift; s > shift; s -= BITS) nb = nb[0] as Node;
    diffNodes(na, nb, shift, 0, common, out);
  }
  for (let i = common; i < Math.max(a.size, b.size); i++) out.push(i);
  return out;
}

function diffNodes(a: Node, b: Node, shift: number, base: number, limit: number, out: number[]): void {
  if (a === b || base >= limit) return;
  if (shift === 0) {
    const n = Math.min(WIDTH, limit - base);
    for (let j = 0; j < n; j++) if (a[j] !== b[j]) out.push(base + j);
    return;
  }
  const span = 2 ** shift;
  for (let j = 0; j < WIDTH && base + j * span < limit; j++) {
    const ca = a[j] as Node | undefined;
    const cb = b[j] as Node | undefined;
    if (ca === undefined || cb === undefined) continue; // beyond one side: counted by the caller's tail
    diffNodes(ca, cb, shift - BITS, base + j * span, limit, out);
  }
}

/**
 * `v` with entries set at the given positions, each either an existing position or the next one
 * (appends, in order). Nodes are copied once per call however many of their entries change, and frozen
 * at the end, so a batch of a thousand entries costs about a thousand entry writes and one copy of
 * each touched leaf and inner node.
 */
export function vecWithMany<T>(v: VecLike<T>, keys: readonly number[], values: readonly unknown[]): Vec<T> {
  let { size, shift, root } = v;
  const fresh = new Set<Node>();
  const own = (node: Node): Node => {
    if (fresh.has(node)) return node;
    const copy = node.slice();
    fresh.add(copy);
    return copy;
  };
  // entries in one leaf usually come together: keep the leaf of the last one
  let leaf: Node | null = null;
  let leafBase = -1;
  for (let k = 0; k < keys.length; k++) {
    const i = keys[k]!;
    const value = values[k];
    if (value === undefined) throw new RangeError(`a vector never removes entries (position ${i}); store a tombstone instead`);
    if (i >>> 0 !== i || i > size) throw new RangeError(`vector position ${i} is past the end (${size})`);
    if (leaf !== null && i - leafBase >= 0 && i - leafBase < WIDTH && i < size) {
      leaf[i & MASK] = value;
      continue;
    }
    if (i === size && size === 2 ** (shift + BITS) && size > 0) {
      // the root is full: a new root above it
      const top: Node = [root];
      fresh.add(top);
      root = top;
      shift += BITS;
    }
    root = own(root);
    let node = root;
    for (let s = shift; s > 0; s -= BITS) {
      const at = (i >>> s) & MASK;
      let child = node[at] as Node | undefined;
      if (child === undefined) {
        child = [];
        fresh.add(child);
      } else child = own(child);
      node[at] = child;
      node = child;
    }
    node[i & MASK] = value;
    if (i === size) size++;
    leaf = node;
    leafBase = i - (i & MASK);
  }
  for (const node of fresh) Object.freeze(node);
  return { size, shift, root };
}

// ---------------------------------------------------------------- tries

function emptyRoot(): TrieNode {
  const node: TrieNode = [];
  for (let i = 0; i < WIDTH; i++) node.push(null);
  return node;
}

type Slot = TrieNode[number];

function isBucket(slot: TrieNode | string[]): slot is string[] {
  return typeof slot[0] === 'string';
}

function eachPair(slot: Slot, fn: (key: string, value: string) => void): void {
  if (slot === null || slot === undefined) return;
  if (isBucket(slot)) {
    for (let j = 0; j < slot.length; j += 2) fn(slot[j]!, slot[j + 1]!);
    return;
  }
  for (const child of slot) eachPair(child, fn);
}

/** Keys whose values differ between two trie subtrees (in either), found by node identity. */
function trieChanged(a: Slot, b: Slot, out: string[]): void {
  if (a === b) return;
  if (a !== null && b !== null && a !== undefined && b !== undefined && !isBucket(a) && !isBucket(b)) {
    for (let i = 0; i < WIDTH; i++) trieChanged(a[i] ?? null, b[i] ?? null, out);
    return;
  }
  // a bucket on either side (or an empty slot): compare the pairs below both
  const before = new Map<string, string>();
  eachPair(a, (k, v) => void before.set(k, v));
  eachPair(b, (k, v) => {
    if (before.get(k) !== v) out.push(k);
    before.delete(k);
  });
  for (const k of before.keys()) out.push(k);
}

// keep the hash and bucket size reachable for readers of this file: the layout is trie.ts's
export { BUCKET, fnv1a };
