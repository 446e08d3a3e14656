/**
 * A persistent vector (Clojure-style, branching 32) for the feed's long lists: posts, users, roots.
 * Plain data only (the state crosses V8 realms, is msgpack-encoded and deep-frozen):
 *
 *   Vec<T>  = { size: number, shift: number, root: Node }
 *   Node    = an array: a leaf (shift 0) holds up to 32 entries; an inner node holds up to 32 nodes
 *
 * Entry `i` lives at root[(i >>> shift) & 31][(i >>> (shift - 5)) & 31]...[i & 31]. The tree is
 * always the smallest one that holds `size` entries, filled from the left: every node but the last
 * on each level is full, the root has at least two children unless shift is 0, and the empty vector
 * is {size: 0, shift: 0, root: []}. Depth grows with the log: 1k entries are 2 levels, 32k are 3,
 * 1M are 4. Holds up to 2^32 - 1 entries.
 *
 * vecSet and vecPush take an immer draft of a vector (or a vector object of your own): they never
 * change a node, they copy the one path to the entry (one node per level, at most 32 references each)
 * and put the new root in the vector. The fresh nodes and the new entry are frozen on the spot, so
 * immer's finalize (and the kernel's freeze) stop at them instead of visiting their 32 children each:
 * the cost of a change is the copy of one path, whatever the size of the feed. So entries are changed
 * only with vecSet (never by mutating what vecGet returns on a draft: that is a frozen entry).
 * Reads work on anything. vecMap, vecWith and toVec build new vectors with plain loops (no immer),
 * sharing every untouched subtree with their input.
 */
import { current, freeze, isDraft } from 'immer';

export const BITS = 5;
export const WIDTH = 1 << BITS; // 32
const MASK = WIDTH - 1;

/** An inner node (children) or a leaf (entries). Typed loosely: the shift says which one it is. */
export type Node = unknown[];

export interface Vec<T> {
  size: number;
  shift: number;
  root: Node;
  /** Phantom: never present at run time; keeps Vec<Post> and Vec<number> apart for the compiler. */
  readonly __entry?: T;
}

/** Read-only view accepted by every reader (frozen states and drafts alike). */
export type VecLike<T> = Readonly<Vec<T>>;

export function emptyVec<T>(): Vec<T> {
  return { size: 0, shift: 0, root: [] };
}

/** How many entries the vector holds. O(1). */
export function vecLength<T>(v: VecLike<T>): number {
  return v.size;
}

/** The vector behind a draft as it is now (no proxies), or the vector itself. */
function plain<T>(v: VecLike<T>): VecLike<T> {
  return isDraft(v) ? (current(v as object) as VecLike<T>) : v;
}

/** Entry `i`, or undefined when `i` is not an integer in range. O(depth). On a draft: the frozen entry. */
export function vecGet<T>(v: VecLike<T>, i: number): T | undefined {
  const { size, shift } = v;
  if (i >>> 0 !== i || i >= size) return undefined;
  let node = (isDraft(v) ? plain(v) : v).root;
  for (let s = shift; s > 0; s -= BITS) node = node[(i >>> s) & MASK] as Node;
  return node[i & MASK] as T;
}

/** Replace entry `i` (which must exist): copies one path. */
export function vecSet<T>(v: Vec<T>, i: number, value: T): void {
  const { size, shift, root } = plain(v);
  if (i >>> 0 !== i || i >= size) throw new RangeError(`vector index ${i} out of range`);
  v.root = assoc(root, shift, i, freeze(value, true));
}

/** Append an entry; returns its index. Copies one path (or adds a level when the root is full). */
export function vecPush<T>(v: Vec<T>, value: T): number {
  const { size: i, shift, root } = plain(v);
  if (i >= 0xffffffff) throw new RangeError('vector is full');
  const entry = freeze(value, true);
  if (i === 2 ** (shift + BITS)) {
    // the root is full: a new root above it, the new entry on a fresh path to its right
    v.root = Object.freeze([root, path(shift, entry)]) as Node;
    v.shift = shift + BITS;
  } else v.root = assoc(root, shift, i, entry);
  v.size = i + 1;
  return i;
}

// A frozen copy of the path from `node` (at `shift`) to entry `i`, with entry `i` set to `value`. `i`
// may be one past the end (a push): a missing node on the way is made fresh.
function assoc(node: Node, shift: number, i: number, value: unknown): Node {
  const at = (i >>> shift) & MASK;
  const copy = [...node];
  if (shift === 0) copy[at] = value;
  else copy[at] = at === node.length ? path(shift - BITS, value) : assoc(node[at] as Node, shift - BITS, i, value);
  return Object.freeze(copy) as Node;
}

/** A fresh frozen chain of nodes from level `shift` down to a leaf holding only `value`. */
function path(shift: number, value: unknown): Node {
  let node: Node = Object.freeze([value]) as Node;
  for (let s = 0; s < shift; s += BITS) node = Object.freeze([node]) as Node;
  return node;
}

/** A new vector with entry `i` replaced (plain path copy, no immer): for migrations and tests. */
export function vecWith<T>(v: VecLike<T>, i: number, value: T): Vec<T> {
  if (i >>> 0 !== i || i >= v.size) throw new RangeError(`vector index ${i} out of range`);
  const root = [...v.root];
  let node = root;
  for (let s = v.shift; s > 0; s -= BITS) {
    const at = (i >>> s) & MASK;
    const copy = [...(node[at] as Node)];
    node[at] = copy;
    node = copy;
  }
  node[i & MASK] = value;
  return { size: v.size, shift: v.shift, root };
}

/** Build a vector from a plain array with plain loops. The array itself is not kept. */
export function toVec<T>(items: readonly T[]): Vec<T> {
  const size = items.length;
  if (size === 0) return emptyVec();
  let level: Node[] = [];
  for (let i = 0; i < size; i += WIDTH) level.push(items.slice(i, i + WIDTH));
  let shift = 0;
  while (level.length > 1) {
    const up: Node[] = [];
    for (let i = 0; i < level.length; i += WIDTH) up.push(level.slice(i, i + WIDTH));
    level = up;
    shift += BITS;
  }
  return { size, shift, root: level[0]! };
}

/** Every entry in order, as one plain array. */
export function fromVec<T>(v: VecLike<T>): T[] {
  const out: T[] = new Array(v.size);
  let k = 0;
  vecForEachLeaf(v, (leaf) => {
    for (let j = 0; j < leaf.length; j++) out[k++] = leaf[j]!;
  });
  return out;
}

/** Call `fn` on every entry with its index, in order. Plain loops; O(n). */
export function vecForEach<T>(v: VecLike<T>, fn: (value: T, i: number) => void): void {
  vecForEachLeaf(v, (leaf, base) => {
    for (let j = 0; j < leaf.length; j++) fn(leaf[j]!, base + j);
  });
}

/** Call `fn` on every leaf (up to 32 consecutive entries) with the index of its first entry, in order. */
export function vecForEachLeaf<T>(v: VecLike<T>, fn: (leaf: readonly T[], base: number) => void): void {
  if (v.size === 0) return;
  eachLeaf(v.root, v.shift, 0, fn as (leaf: Node, base: number) => void);
}

function eachLeaf(node: Node, shift: number, base: number, fn: (leaf: Node, base: number) => void): void {
  if (shift === 0) {
    fn(node, base);
    return;
  }
  const step = 2 ** shift;
  for (let j = 0; j < node.length; j++) eachLeaf(node[j] as Node, shift - BITS, base + j * step, fn);
}

/**
 * A vector of fn(entry, i) for every entry, with plain loops. Where fn returns the very same entries
 * for a whole leaf, that leaf is reused, and so is every inner node whose children all came back
 * the same; when nothing changed the input itself is returned.
 */
export function vecMap<T, U>(v: VecLike<T>, fn: (value: T, i: number) => U): Vec<U> {
  if (v.size === 0) return v as unknown as Vec<U>;
  const root = mapNode(v.root, v.shift, 0, fn as (value: unknown, i: number) => unknown);
  return root === v.root ? (v as unknown as Vec<U>) : { size: v.size, shift: v.shift, root };
}

function mapNode(node: Node, shift: number, base: number, fn: (value: unknown, i: number) => unknown): Node {
  const n = node.length;
  let out: Node | null = null;
  if (shift === 0) {
    for (let j = 0; j < n; j++) {
      const before = node[j];
      const after = fn(before, base + j);
      if (out === null) {
        if (after === before) continue;
        out = new Array(n);
        for (let k = 0; k < j; k++) out[k] = node[k];
      }
      out[j] = after;
    }
    return out ?? node;
  }
  const step = 2 ** shift;
  for (let j = 0; j < n; j++) {
    const before = node[j] as Node;
    const after = mapNode(before, shift - BITS, base + j * step, fn);
    if (out === null) {
      if (after === before) continue;
      out = new Array(n);
      for (let k = 0; k < j; k++) out[k] = node[k];
    }
    out[j] = after;
  }
  return out ?? node;
}

/**
 * Why `v` is not a well-formed vector (see the top of this file), or null when it is. Walks the inner
 * nodes and checks every leaf's length, not the entries: O(n / 32).
 */
export function vecProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a {size, shift, root} vector';
  const { size, shift, root } = v as Vec<unknown>;
  let keys = 0;
  for (const _ in v) keys++;
  if (keys !== 3) return 'not a {size, shift, root} vector';
  if (!Number.isInteger(size) || size < 0 || size > 0xffffffff) return `size ${String(size)} is not a count`;
  if (!Number.isInteger(shift) || shift < 0 || shift % BITS !== 0) return `shift ${String(shift)} is not a multiple of ${BITS}`;
  // the smallest tree that holds `size` entries
  if (shift !== minShift(size)) return `shift ${shift} for ${size} entries (expected ${minShift(size)})`;
  if (!Array.isArray(root)) return 'root is not a list';
  return nodeProblem(root, shift, size, 'root');
}

function minShift(size: number): number {
  let shift = 0;
  while (size > 2 ** (shift + BITS)) shift += BITS;
  return shift;
}

// `count` entries below this node: it must have exactly ceil(count / 2^shift) children (entries for a
// leaf), all but the last full.
function nodeProblem(node: Node, shift: number, count: number, where: string): string | null {
  const span = 2 ** shift;
  const children = Math.ceil(count / span);
  if (node.length !== children) return `${where} has ${node.length} ${shift === 0 ? 'entries' : 'children'}, expected ${children}`;
  if (shift === 0) return null;
  for (let j = 0; j < children; j++) {
    const child = node[j];
    if (!Array.isArray(child)) return `${where}[${j}] is not a node`;
    const problem = nodeProblem(child, shift - BITS, j < children - 1 ? span : count - j * span, `${where}[${j}]`);
    if (problem !== null) return problem;
  }
  return null;
}
