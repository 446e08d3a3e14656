/**
 * A persistent hash trie from string keys to string values (handle -> user id, session token -> user
 * id). Plain data only (the state crosses V8 realms, is msgpack-encoded and deep-frozen):
 *
 *   Trie    = { size: number, root: Node }
 *   Node    = an array of exactly 32 slots; a slot is null (empty), a Node, or a Bucket
 *   Bucket  = a flat array [key0, value0, key1, value1, ...] of 1 to BUCKET pairs, all strings
 *
 * A key's place is decided by h = FNV-1a(key) (32 bits): the root is indexed by bits 0-4 of h, a node
 * at depth d by bits 5d..5d+4. Nodes are made lazily: a bucket that would exceed BUCKET pairs becomes
 * a node one level down holding its pairs by their next 5 bits. Depth 6 has only the top 2 bits, so
 * a bucket there never splits (it holds only keys whose 32-bit hashes are equal). A slot holds a
 * bucket when its first element is a string (a bucket is never empty), a node when it is null or a
 * list. Removing the last pair of a bucket empties its slot, and a node left empty is removed too.
 *
 * Keys are list elements, never property names, so a key like "__proto__" or "constructor" cannot
 * meet Object.prototype.
 *
 * trieSet and trieDelete take an immer draft of a trie (or a trie object of your own): they never change
 * a node, they copy the one path to the key (one node per level, 32 references each, and one bucket of
 * at most 2 * BUCKET strings) and put the new root in the trie. The fresh nodes are frozen on the spot,
 * so immer's finalize (and the kernel's freeze) stop at them instead of visiting their 32 children
 * each. The cost grows with the depth only: with 1M keys the path is 4 or 5 nodes deep.
 */
import { current, freeze, isDraft } from 'immer';

export const BUCKET = 8;
const BITS = 5;
const WIDTH = 32;
const MASK = 31;
/** The shift of the deepest level: bits 30-31. */
const LAST = 30;

export type Slot = null | Node | Bucket;
export type Node = Slot[];
export type Bucket = string[];

export interface Trie {
  size: number;
  root: Node;
}

export type TrieLike = Readonly<Trie>;

/** 32-bit FNV-1a over UTF-16 code units. */
export function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function emptyNode(): Node {
  // pushed, not new Array(32): a packed array, like the copies made of it (one elements kind for V8)
  const node: Node = [];
  for (let i = 0; i < WIDTH; i++) node.push(null);
  return node;
}

function isBucket(slot: Node | Bucket): slot is Bucket {
  return typeof slot[0] === 'string';
}

export function emptyTrie(): Trie {
  return { size: 0, root: emptyNode() };
}

/** How many keys the trie holds. O(1). */
export function trieSize(trie: TrieLike): number {
  return trie.size;
}

/** The trie behind a draft as it is now (no proxies), or the trie itself. */
function plain(trie: TrieLike): TrieLike {
  return isDraft(trie) ? (current(trie) as TrieLike) : trie;
}

/** The value stored under `key`, or undefined. */
export function trieGet(trie: TrieLike, key: string): string | undefined {
  const h = fnv1a(key);
  let node: readonly Slot[] = plain(trie).root;
  for (let shift = 0; ; shift += BITS) {
    const slot = node[(h >>> shift) & MASK];
    if (slot === null || slot === undefined) return undefined;
    if (isBucket(slot)) {
      const j = keyAt(slot, key);
      return j < 0 ? undefined : slot[j + 1];
    }
    node = slot;
  }
}

// set by setIn / removeIn: whether the key was added / found
let changed = false;

/** Set `key` to `value`: copies one path. */
export function trieSet(trie: Trie, key: string, value: string): void {
  const { size, root } = plain(trie);
  changed = false;
  const next = setIn(root, 0, fnv1a(key), key, value);
  if (next === root) return;
  trie.root = next;
  if (changed) trie.size = size + 1;
}

// A frozen copy of the path to the key's bucket with the pair set (`node` itself when nothing changes).
function setIn(node: Node, shift: number, h: number, key: string, value: string): Node {
  const at = (h >>> shift) & MASK;
  const slot = node[at]!;
  let next: Node | Bucket;
  if (slot === null) {
    next = Object.freeze([key, value]) as Bucket;
    changed = true;
  } else if (isBucket(slot)) {
    const j = keyAt(slot, key);
    if (j >= 0) {
      if (slot[j + 1] === value) return node;
      next = [...slot];
      next[j + 1] = value;
      Object.freeze(next);
    } else if (slot.length < 2 * BUCKET || shift === LAST) {
      next = Object.freeze([...slot, key, value]) as Bucket;
      changed = true;
    } else {
      // the bucket is full: a fresh node one level down holds its pairs and the new one
      const split = emptyNode();
      for (let k = 0; k < slot.length; k += 2) insert(split, shift + BITS, fnv1a(slot[k]!), slot[k]!, slot[k + 1]!);
      insert(split, shift + BITS, h, key, value);
      next = freeze(split, true);
      changed = true;
    }
  } else {
    next = setIn(slot, shift + BITS, h, key, value);
    if (next === slot) return node;
  }
  const copy = [...node];
  copy[at] = next;
  return Object.freeze(copy) as Node;
}

// Put the pair in the fresh (unfrozen, unshared) subtree `node` at `shift`, in place: for building.
function insert(node: Node, shift: number, h: number, key: string, value: string): void {
  for (;;) {
    const at = (h >>> shift) & MASK;
    const slot = node[at]!;
    if (slot === null) {
      node[at] = [key, value];
      return;
    }
    if (isBucket(slot)) {
      const j = keyAt(slot, key);
      if (j >= 0) slot[j + 1] = value;
      else if (slot.length < 2 * BUCKET || shift === LAST) slot.push(key, value);
      else {
        const split = emptyNode();
        for (let k = 0; k < slot.length; k += 2) insert(split, shift + BITS, fnv1a(slot[k]!), slot[k]!, slot[k + 1]!);
        insert(split, shift + BITS, h, key, value);
        node[at] = split;
      }
      return;
    }
    node = slot;
    shift += BITS;
  }
}

/** Remove `key` if present; returns whether it was there. Copies one path. */
export function trieDelete(trie: Trie, key: string): boolean {
  const { size, root } = plain(trie);
  changed = false;
  const next = removeIn(root, 0, fnv1a(key), key);
  if (!changed) return false;
  trie.root = next ?? (Object.freeze(emptyNode()) as Node);
  trie.size = size - 1;
  return true;
}

// A frozen copy of the path to the key's bucket without the key; null when the node is left empty
// (the root is kept by the caller); `node` itself when the key is not there.
function removeIn(node: Node, shift: number, h: number, key: string): Node | null {
  const at = (h >>> shift) & MASK;
  const slot = node[at];
  if (slot === null || slot === undefined) return node;
  let next: Node | Bucket | null;
  if (isBucket(slot)) {
    const j = keyAt(slot, key);
    if (j < 0) return node;
    if (slot.length === 2) next = null;
    else {
      const rest: Bucket = [];
      for (let k = 0; k < slot.length; k++) if (k !== j && k !== j + 1) rest.push(slot[k]!);
      next = Object.freeze(rest) as Bucket;
    }
    changed = true;
  } else {
    next = removeIn(slot, shift + BITS, h, key);
    if (next === slot) return node;
  }
  const copy = [...node];
  copy[at] = next;
  for (let k = 0; k < WIDTH; k++) if (copy[k] !== null) return Object.freeze(copy) as Node;
  return null;
}

/** Call `fn` for every pair, in trie order (not insertion order). */
export function trieForEach(trie: TrieLike, fn: (key: string, value: string) => void): void {
  eachPair(trie.root, fn);
}

function eachPair(node: readonly Slot[], fn: (key: string, value: string) => void): void {
  for (let i = 0; i < WIDTH; i++) {
    const slot = node[i];
    if (slot === null || slot === undefined) continue;
    if (isBucket(slot)) for (let j = 0; j < slot.length; j += 2) fn(slot[j]!, slot[j + 1]!);
    else eachPair(slot, fn);
  }
}

/** Build a trie from pairs with plain loops, in place (no copies, no immer): for migrations and test
 *  states. A later pair with the same key wins. */
export function toTrie(pairs: Iterable<readonly [string, string]>): Trie {
  const root = emptyNode();
  for (const [key, value] of pairs) insert(root, 0, fnv1a(key), key, value);
  let size = 0;
  eachPair(root, () => size++);
  return { size, root };
}

/**
 * Problems with the shape of a trie (see the top of this file): every node 32 slots, every bucket 1 to
 * BUCKET pairs of strings (more only at the deepest level), every key where its hash puts it and only
 * once, and `size` the number of pairs. `fn` sees every pair of a well-shaped bucket. O(n). Problems
 * never quote a key: session tokens are secrets.
 */
export function trieProblems(trie: unknown, report: (problem: string) => void, fn?: (key: string, value: string) => void): boolean {
  if (typeof trie !== 'object' || trie === null || Array.isArray(trie) || keyCount(trie) !== 2) {
    report('not a {size, root} trie');
    return false;
  }
  const { size, root } = trie as Trie;
  let ok = true;
  let pairs = 0;
  const bad = (problem: string): void => {
    ok = false;
    report(problem);
  };
  const walk = (node: unknown, shift: number, prefix: number, where: string): void => {
    if (!Array.isArray(node) || node.length !== WIDTH) return bad(`${where} is not a node of ${WIDTH} slots`);
    for (let i = 0; i < WIDTH; i++) {
      const slot: unknown = node[i];
      if (slot === null) continue;
      if (!Array.isArray(slot)) {
        bad(`${where}[${i}] is neither empty, a node nor a bucket`);
        continue;
      }
      if (typeof slot[0] !== 'string') {
        if (shift === LAST) bad(`${where}[${i}] is a node below the deepest level`);
        else walk(slot, shift + BITS, (prefix | (i << shift)) >>> 0, `${where}[${i}]`);
        continue;
      }
      if (slot.length % 2 !== 0 || (slot.length > 2 * BUCKET && shift !== LAST)) {
        bad(`${where}[${i}] is a bucket of ${slot.length} strings, not 1 to ${BUCKET} pairs`);
        continue;
      }
      // the key's hash must lead here: bits below this level spell the path, this level's bits are i
      const low = 2 ** shift - 1;
      for (let j = 0; j < slot.length; j += 2) {
        const key: unknown = slot[j];
        const value: unknown = slot[j + 1];
        if (typeof key !== 'string' || typeof value !== 'string') {
          bad(`${where}[${i}] holds a key or value that is not a string`);
          continue;
        }
        const h = fnv1a(key);
        if (((h >>> shift) & MASK) !== i || (h & low) >>> 0 !== prefix) bad(`${where}[${i}]: a key is not where its hash puts it`);
        else if (keyAt(slot, key) !== j) bad(`${where}[${i}]: a key is stored twice`);
        else {
          pairs++;
          fn?.(key, value);
        }
      }
    }
  };
  walk(root, 0, 0, 'root');
  if (ok && size !== pairs) bad(`size is ${String(size)}, holds ${pairs} keys`);
  return ok;
}

/** The index of `key` among the keys (even positions) of a bucket, or -1. */
function keyAt(bucket: readonly unknown[], key: string): number {
  for (let j = 0; j < bucket.length; j += 2) if (bucket[j] === key) return j;
  return -1;
}

function keyCount(value: object): number {
  let n = 0;
  for (const _ in value) n++;
  return n;
}
