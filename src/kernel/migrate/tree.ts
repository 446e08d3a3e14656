/**
 * The digest of a whole state, node by node (a Merkle hash), so the live process can compare what it
 * will commit with what the rehearsal checked without asking release code what it built.
 *
 * The streams of digest.ts fold what a step hands its collections, and where it found them: release
 * code (a collection's `with`, `changed`, `lookup`) decides what that is. A `with` that stored other
 * texts than it was given, or a `changed` that hid a catch-up round's writes, only in the live process,
 * left those streams equal while the states differed (ART.md). This digest reads the built state
 * itself: every node, by content (never identity, so the rehearsal's copy digests as the original),
 * each node's digest folded from its entries' (keys, values, and the digests of the nodes below).
 * One difference anywhere changes the root's digest (each fold is a bijection of the running hash for
 * a given word); several cancel out by chance one time in 2^32. As with the streams, it is not
 * cryptographic: a release crafted to collide could pass.
 *
 * A catch-up round builds a new state that shares all but a few paths with the one before, so the
 * digests of nodes are kept (per process, by identity, for as long as the node lives): a round hashes
 * only its new nodes and reads the kept digest of every node it shares. That is sound only for nodes
 * that never change, so it runs over data the plain-data walk has checked and deep-frozen (plain.ts),
 * and reads values directly (for-in order, indices). Only nodes with enough below them keep their
 * digest (a vector's leaves and inner nodes, a big post), so the kept digests are a few percent of the
 * nodes. It walks with a stack of its own, so it can stop after a number of nodes and go on later
 * (the live process yields between slices), and no depth overflows it.
 */
import { SEED, foldKey, foldLeaf, foldWord } from './digest.ts';

/** Digests of frozen nodes, by identity (see the file's comment). */
const kept = new WeakMap<object, number>();

/** A node whose walk counted at least this many nodes below it keeps its digest. */
const KEEP = 24;

/**
 * Arrays this long (a vector's or a trie's nodes) are looked up among the kept digests; a node that
 * is not (a post, say) is digested again with the node that holds it, without a lookup: a lookup
 * that misses cost more than digesting a small node (measured: the walk took twice as long).
 */
const WIDE = 8;

/**
 * A node below a frame is first digested by plain recursion (no frames: about twice as fast), for at
 * most SMALL nodes and SMALL_DEPTH levels; a bigger one gets frames of its own, so no run goes far
 * over its budget and no depth overflows the stack.
 */
const SMALL = 4_096;
const SMALL_DEPTH = 64;

/** Nodes the recursion visited since it began (small()). */
let visited = 0;

/** The digest of `v` by recursion, or -1 when it is bigger than SMALL allows (see above). */
function small(v: object, depth: number): number {
  if (depth > SMALL_DEPTH || ++visited > SMALL) return -1;
  if (Array.isArray(v)) {
    const wide = v.length >= WIDE;
    if (wide) {
      const had = kept.get(v);
      if (had !== undefined) return had;
    }
    const from = visited;
    let a = foldWord(foldWord(SEED, 7), v.length);
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (typeof x !== 'object' || x === null) a = foldLeaf(a, x);
      else {
        const c = small(x, depth + 1);
        if (c < 0) return -1;
        a = foldWord(foldWord(a, 14), c);
      }
    }
    const h = a >>> 0;
    if (wide && visited - from + v.length >= KEEP) kept.set(v, h);
    return h;
  }
  let a = foldWord(SEED, 8);
  const o = v as Record<string, unknown>;
  for (const k in o) {
    a = foldKey(a, k);
    const x = o[k];
    if (typeof x !== 'object' || x === null) a = foldLeaf(a, x);
    else {
      const c = small(x, depth + 1);
      if (c < 0) return -1;
      a = foldWord(foldWord(a, 14), c);
    }
  }
  return foldWord(a, 9) >>> 0;
}

/** Nodes at most this deep (the state is depth 0) are named in `paths`: the first PATHS of them, by paths of at most PATH_CHARS. */
const NAMED_DEPTH = 2;
const PATHS = 256;
const PATH_CHARS = 200;

/** A state's digest and those of its first nodes by path ("posts", "posts.root"), to name where two part. */
export interface Tree {
  h: number;
  paths: Record<string, number>;
}

export class TreeDigest {
  // one frame per node being digested: the node, its keys (null: an array), the next entry, the
  // running hash, the nodes counted below it, and its path while it is shallow enough to be named
  readonly #node: object[] = [];
  readonly #keys: (string[] | null)[] = [];
  readonly #at: number[] = [];
  readonly #acc: number[] = [];
  readonly #count: number[] = [];
  readonly #path: (string | null)[] = [];
  #sp = -1;
  #h: number | null = null;
  readonly #paths: Record<string, number> = {};
  #named = 0;

  constructor(state: unknown) {
    if (typeof state === 'object' && state !== null) this.#enter(state, '');
    else this.#h = foldLeaf(SEED, state) >>> 0;
  }

  /** Digest up to `budget` more entries; true when the whole state is done (then result()). */
  run(budget: number): boolean {
    const node = this.#node;
    const keys = this.#keys;
    const at = this.#at;
    const acc = this.#acc;
    while (this.#sp >= 0 && budget-- > 0) {
      const sp = this.#sp;
      const o = node[sp] as Record<string, unknown>;
      const ks = keys[sp]!;
      const i = at[sp]!;
      if (i === (ks === null ? (o as unknown as unknown[]).length : ks.length)) {
        this.#leave();
        continue;
      }
      at[sp] = i + 1;
      let a = acc[sp]!;
      let v: unknown;
      if (ks === null) v = (o as unknown as unknown[])[i];
      else {
        const k = ks[i]!;
        a = foldKey(a, k);
        v = o[k];
      }
      if (typeof v !== 'object' || v === null) {
        acc[sp] = foldLeaf(a, v);
        this.#count[sp]!++;
        continue;
      }
      const path = this.#path[sp] ?? null;
      const named = path !== null && sp + 1 <= NAMED_DEPTH ? `${path}${path ? '.' : ''}${ks === null ? i : ks[i]}` : null;
      let had: number | undefined;
      if (Array.isArray(v) && v.length >= WIDE) had = kept.get(v);
      else {
        visited = 0;
        const c = small(v, 0);
        budget -= visited;
        if (c >= 0) had = c;
        else had = kept.get(v);
      }
      if (had !== undefined) {
        acc[sp] = foldWord(foldWord(a, 14), had);
        this.#count[sp]! += KEEP;
        if (named !== null) this.#name(named, had);
        continue;
      }
      acc[sp] = a;
      this.#enter(v, named);
    }
    return this.#sp < 0;
  }

  /** The state's digest and its named paths' (after run() returned true). */
  result(): Tree {
    if (this.#h === null) throw new Error('the tree digest is not done');
    return { h: this.#h, paths: this.#paths };
  }

  #enter(v: object, path: string | null): void {
    const sp = ++this.#sp;
    this.#node[sp] = v;
    this.#at[sp] = 0;
    this.#count[sp] = 1;
    this.#path[sp] = path;
    if (Array.isArray(v)) {
      this.#keys[sp] = null;
      this.#acc[sp] = foldWord(foldWord(SEED, 7), v.length);
    } else {
      this.#keys[sp] = Object.keys(v);
      this.#acc[sp] = foldWord(SEED, 8);
    }
  }

  #leave(): void {
    const sp = this.#sp--;
    const v = this.#node[sp]!;
    const h = (this.#keys[sp] === null ? this.#acc[sp]! : foldWord(this.#acc[sp]!, 9)) >>> 0;
    const count = this.#count[sp]!;
    if (count >= KEEP) kept.set(v, h);
    const path = this.#path[sp];
    if (path !== null && path !== undefined && path !== '') this.#name(path, h);
    this.#node[sp] = undefined as never;
    this.#keys[sp] = null;
    if (sp === 0) {
      this.#h = h;
      return;
    }
    this.#acc[sp - 1] = foldWord(foldWord(this.#acc[sp - 1]!, 14), h);
    this.#count[sp - 1]! += count;
  }

  #name(path: string, h: number): void {
    // bounded: the rehearsal sends these with every check (a key can be long)
    if (this.#named >= PATHS || path.length > PATH_CHARS) return;
    this.#named++;
    this.#paths[path] = h;
  }
}

/** The digest of a whole (checked, frozen) state at once. */
export function treeOf(state: unknown): Tree {
  const t = new TreeDigest(state);
  t.run(Infinity);
  return t.result();
}

/**
 * Where two trees part: the deepest named path whose digests differ ('' when only the state's own
 * fields do), or null when they are the same.
 */
export function treeDiffers(mine: Tree, theirs: Tree): string | null {
  if (mine.h === theirs.h) return null;
  let found: string | null = null;
  const depth = (path: string): number => path.split('.').length;
  for (const [path, h] of Object.entries(mine.paths))
    if (theirs.paths[path] !== h && (found === null || depth(path) > depth(found))) found = path;
  for (const path of Object.keys(theirs.paths)) if (!(path in mine.paths) && (found === null || depth(path) > depth(found))) found = path;
  return found ?? '';
}
