/**
 * The digest of a whole state, node by node (a Merkle tree of SHA-256), so the live process can
 * compare what it will commit with what the rehearsal checked without asking release code what it
 * built.
 *
 * The streams of digest.ts fold what a step hands its collections, and where it found them: release
 * code (a collection's `with`, `changed`, `lookup`) decides what that is. A `with` that stored other
 * texts than it was given, or a `changed` that hid a catch-up round's writes, only in the live process,
 * left those streams equal while the states differed (ART.md). This digest reads the built state
 * itself, by content (never identity, so the rehearsal's copy digests as the original).
 *
 * It is SHA-256, not a fast 32-bit hash: every step of such a hash can be undone, so release code that
 * knows it (it is in this file) could compute a correction of a few characters that makes a rewritten
 * post digest as the original, at no cost (a probe did: it committed a post's text the rehearsal never
 * saw). SHA-256 has no known way to do that.
 *
 * The state is written out as 16-bit words, unambiguously (a tag per value; strings with their length
 * and their code units, two a word when all fit a byte; numbers as float64; an object's keys in order,
 * then an end tag), and hashed. Every array of WIDE entries or more (a vector's or a trie's nodes) is
 * hashed on its own and appears in the words of the node above as its 32-byte digest. Those digests
 * are kept per process by identity (a WeakMap) for as long as the node lives, so a catch-up round,
 * which shares all but a few paths with the state before it, hashes only its new nodes. That is sound only for nodes that never change,
 * so it runs over data the plain-data walk has checked and deep-frozen (plain.ts), and reads values
 * directly (for-in order, indices). Which arrays are hashed on their own depends only on their length,
 * never on where they sit or on what was kept, so both processes write the same bytes.
 *
 * Strings are written as the copy to the rehearsal carries them (UTF-8, in msgpack): a lone surrogate
 * as U+FFFD. A prototype is not written (plain data is a plain object with either prototype). It walks
 * with a stack of its own, so it can stop after a number of entries and go on later (the live process
 * yields between runs), and no depth overflows it.
 */
import { createHash, hash as oneShot, type Hash } from 'node:crypto';
import { wellFormed } from './digest.ts';

/** Arrays at least this long are hashed on their own, and their digests kept (see above). */
const WIDE = 32;

/** A digest: SHA-256's 32 bytes as a one-byte string (strings cost the collector less than Buffers). */
type Digest = string;
const DIGEST_WORDS = 16;
const hex = (d: Digest): string => Buffer.from(d, 'latin1').toString('hex');

/** Digests of frozen wide arrays, by identity (see the file's comment). */
const kept = new WeakMap<object, Digest>();

/** SHA-256 of the words in `data`, as a Digest. */
const sha256 = (data: Uint16Array): Digest => oneShot('sha256', data, 'binary');

// the tags of the byte form
const STR = 1;
const NUM = 2;
const TRUE = 3;
const FALSE = 4;
const NULL = 5;
const UNDEFINED = 6;
const ARR = 7;
const OBJ = 8;
const END = 9;
const REF = 10;
const OTHER = 11;
/** A string whose code units all fit a byte (ASCII, Latin-1): two a word, half the bytes to hash. */
const STR8 = 12;

/** The 16-bit words a digest writes before it hashes them (its own buffer: digests may overlap in time). */
const BUFFER = 1 << 17;

/**
 * A node below a frame is first written by plain recursion (no frames), for at most SMALL nodes and
 * SMALL_DEPTH levels and what the buffer holds; a bigger one, or one holding a wide array not digested
 * yet, gets frames of its own, so no run goes far over its budget and no depth overflows the stack.
 */
const SMALL = 4_096;
const SMALL_DEPTH = 64;

/** Nodes at most this deep (the state is depth 0) are named in `paths`: the first PATHS, by paths of at most PATH_CHARS. */
const NAMED_DEPTH = 3;
const PATHS = 256;
const PATH_CHARS = 200;

/** A state's digest (hex) and those of its first wide nodes by path ("posts.root", "posts.root.3"), to name where two part. */
export interface Tree {
  h: string;
  paths: Record<string, string>;
}

// a number's float64 as four 16-bit words
const f64 = new Float64Array(1);
const f64Words = new Uint16Array(f64.buffer);

export class TreeDigest {
  // written a 16-bit word at a time (a tag, half a length or of a number, a code unit): plain array
  // stores, where Buffer.write with 'utf16le' was half of the digest's time (a native call a string)
  readonly #buf = new Uint16Array(BUFFER);
  #pos = 0;
  /** Nodes the recursion visited since it began (#small). */
  #visited = 0;
  // one frame per node being walked: the node, its keys (null: an array), the next entry, whether it
  // is hashed on its own (wide arrays and the state) or written into the hash of the one above, and its
  // path while it is shallow enough to be named
  readonly #node: object[] = [];
  readonly #keys: (string[] | null)[] = [];
  readonly #at: number[] = [];
  readonly #owns: boolean[] = [];
  readonly #path: (string | null)[] = [];
  /**
   * The frames hashed on their own, innermost last, each with where its words start in the buffer
   * (they follow one another: a node's words end where the node below it starts) and its streaming
   * hash, made only once the buffer fills while it is open; a node whose words all fit is hashed in
   * one call (a Hash object per node was most of the collector's work at 1M posts).
   */
  readonly #starts: number[] = [];
  readonly #hashes: (Hash | null)[] = [];
  #sp = -1;
  #h: string | null = null;
  readonly #paths: Record<string, string> = {};
  #named = 0;

  constructor(state: unknown) {
    if (typeof state === 'object' && state !== null) this.#enter(state, '', true);
    else {
      this.#starts.push(0);
      this.#hashes.push(null);
      this.#value(state);
      this.#h = hex(this.#close());
    }
  }

  /** Walk up to `budget` more entries; true when the whole state is done (then result()). */
  run(budget: number): boolean {
    while (this.#sp >= 0 && budget-- > 0) {
      const sp = this.#sp;
      const o = this.#node[sp] as Record<string, unknown>;
      const ks = this.#keys[sp]!;
      const i = this.#at[sp]!;
      if (i === (ks === null ? (o as unknown as unknown[]).length : ks.length)) {
        this.#leave();
        continue;
      }
      this.#at[sp] = i + 1;
      let v: unknown;
      if (ks === null) v = (o as unknown as unknown[])[i];
      else {
        const k = ks[i]!;
        this.#string(k);
        v = o[k];
      }
      if (typeof v !== 'object' || v === null) {
        this.#value(v);
        continue;
      }
      const path = this.#path[sp] ?? null;
      const named = path !== null && sp + 1 <= NAMED_DEPTH ? `${path}${path ? '.' : ''}${ks === null ? i : ks[i]}` : null;
      if (Array.isArray(v) && v.length >= WIDE) {
        const had = kept.get(v);
        if (had !== undefined) {
          this.#ref(had);
          if (named !== null) this.#name(named, had);
        } else this.#enter(v, named, true);
        continue;
      }
      // a node written into this hash: by recursion if it is small, else in frames of its own (as
      // is every node shallow enough to be named, so that both processes name the same ones)
      if (named !== null) {
        this.#enter(v, named, false);
        continue;
      }
      const from = this.#pos;
      this.#visited = 0;
      const ok = this.#small(v, 0);
      budget -= this.#visited;
      if (!ok) {
        this.#pos = from;
        this.#enter(v, named, false);
      }
    }
    return this.#sp < 0;
  }

  /** The state's digest and its named paths' (after run() returned true). */
  result(): Tree {
    if (this.#h === null) throw new Error('the tree digest is not done');
    return { h: this.#h, paths: this.#paths };
  }

  #enter(v: object, path: string | null, owns: boolean): void {
    if (owns) {
      this.#starts.push(this.#pos);
      this.#hashes.push(null);
    }
    const sp = ++this.#sp;
    this.#node[sp] = v;
    this.#at[sp] = 0;
    this.#owns[sp] = owns;
    this.#path[sp] = path;
    this.#room(3);
    if (Array.isArray(v)) {
      this.#keys[sp] = null;
      this.#buf[this.#pos++] = ARR;
      this.#u32(v.length);
    } else {
      this.#keys[sp] = Object.keys(v);
      this.#buf[this.#pos++] = OBJ;
    }
  }

  #leave(): void {
    const sp = this.#sp--;
    const v = this.#node[sp]!;
    if (this.#keys[sp] !== null) {
      this.#room(1);
      this.#buf[this.#pos++] = END;
    }
    const path = this.#path[sp];
    this.#node[sp] = undefined as never;
    this.#keys[sp] = null;
    if (!this.#owns[sp]) return;
    const d = this.#close();
    if (sp === 0) {
      this.#h = hex(d);
      return;
    }
    kept.set(v, d);
    this.#ref(d);
    if (path !== null && path !== undefined) this.#name(path, d);
  }

  /** The innermost hashed frame's digest, its words taken off the buffer (the frame above goes on where they began). */
  #close(): Digest {
    const start = this.#starts.pop()!;
    const hash = this.#hashes.pop()!;
    const words = this.#buf.subarray(start, this.#pos);
    this.#pos = start;
    if (hash === null) return sha256(words);
    hash.update(words);
    return hash.digest('binary');
  }

  /** The buffer is full: each open hashed frame's words into its own streaming hash (made now if need be). */
  #flush(): void {
    const n = this.#starts.length;
    for (let k = 0; k < n; k++) {
      const start = this.#starts[k]!;
      const end = k + 1 < n ? this.#starts[k + 1]! : this.#pos;
      if (end > start) (this.#hashes[k] ??= createHash('sha256')).update(this.#buf.subarray(start, end));
      this.#starts[k] = 0;
    }
    this.#pos = 0;
  }

  /** Room for `n` more words in the buffer (flushing it if need be). */
  #room(n: number): void {
    if (this.#pos + n > BUFFER) this.#flush();
  }

  #ref(d: Digest): void {
    this.#room(1 + DIGEST_WORDS);
    this.#refAt(d);
  }

  /** A digest's tag and its words, into room that is there. */
  #refAt(d: Digest): void {
    const buf = this.#buf;
    buf[this.#pos++] = REF;
    for (let i = 0; i < 2 * DIGEST_WORDS; i += 2) buf[this.#pos++] = d.charCodeAt(i) | (d.charCodeAt(i + 1) << 8);
  }

  #u32(n: number): void {
    this.#buf[this.#pos++] = n & 0xffff;
    this.#buf[this.#pos++] = n >>> 16;
  }

  /**
   * A string's tag, length and code units, into room that is there (its length and 3 words): one-byte
   * units two a word (STR8), else one a word (STR), as the rehearsal's copy holds them: a lone
   * surrogate as U+FFFD (a string with surrogates is written from its well-formed copy).
   */
  #str(s: string): void {
    const buf = this.#buf;
    const n = s.length;
    const at = this.#pos;
    let pos = at + 3;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const a = s.charCodeAt(i);
      const b = s.charCodeAt(i + 1);
      if ((a | b) > 0xff) break;
      buf[pos++] = a | (b << 8);
    }
    let narrow = i + 1 >= n;
    if (narrow && i < n) {
      const a = s.charCodeAt(i);
      if (a > 0xff) narrow = false;
      else buf[pos++] = a;
    }
    if (!narrow) {
      pos = at + 3;
      let t = s;
      for (let j = 0; j < n; j++) {
        const c = s.charCodeAt(j);
        if ((c & 0xf800) === 0xd800) {
          t = wellFormed(s);
          break;
        }
      }
      for (let j = 0; j < n; j++) buf[pos++] = t.charCodeAt(j);
    }
    buf[at] = narrow ? STR8 : STR;
    buf[at + 1] = n & 0xffff;
    buf[at + 2] = n >>> 16;
    this.#pos = pos;
  }

  /** A string's tag, length and code units, flushing as need be (one longer than the buffer: in parts, a unit a word). */
  #string(s: string): void {
    if (s.length + 3 <= BUFFER - this.#pos) return this.#str(s);
    this.#flush();
    if (s.length + 3 <= BUFFER) return this.#str(s);
    const t = wellFormed(s);
    this.#buf[this.#pos++] = STR;
    this.#u32(t.length);
    for (let from = 0; from < t.length; ) {
      const part = Math.min(BUFFER - this.#pos, t.length - from);
      for (let j = 0; j < part; j++) this.#buf[this.#pos++] = t.charCodeAt(from + j);
      from += part;
      this.#flush();
    }
  }

  /** A value that is not an object (flushing as need be). */
  #value(v: unknown): void {
    this.#room(5);
    const buf = this.#buf;
    switch (typeof v) {
      case 'string':
        return this.#string(v);
      case 'number':
        buf[this.#pos++] = NUM;
        f64[0] = v;
        buf[this.#pos++] = f64Words[0]!;
        buf[this.#pos++] = f64Words[1]!;
        buf[this.#pos++] = f64Words[2]!;
        buf[this.#pos++] = f64Words[3]!;
        return;
      case 'boolean':
        buf[this.#pos++] = v ? TRUE : FALSE;
        return;
      case 'undefined':
        buf[this.#pos++] = UNDEFINED;
        return;
      default:
        buf[this.#pos++] = v === null ? NULL : OTHER;
    }
  }

  /**
   * `v` written by recursion, into the buffer only (never flushed meanwhile, so the caller can take it
   * back): false when it is too big for that, or holds a wide array not digested yet (see SMALL).
   */
  #small(v: object, depth: number): boolean {
    if (depth > SMALL_DEPTH || ++this.#visited > SMALL) return false;
    const buf = this.#buf;
    if (Array.isArray(v)) {
      if (v.length >= WIDE) {
        const had = kept.get(v);
        if (had === undefined || this.#pos + 1 + DIGEST_WORDS > BUFFER) return false;
        this.#refAt(had);
        return true;
      }
      if (this.#pos + 3 > BUFFER) return false;
      buf[this.#pos++] = ARR;
      this.#u32(v.length);
      for (let i = 0; i < v.length; i++) if (!this.#item(v[i], depth)) return false;
      return true;
    }
    if (this.#pos + 1 > BUFFER) return false;
    buf[this.#pos++] = OBJ;
    const o = v as Record<string, unknown>;
    for (const k in o) {
      if (!this.#text(k) || !this.#item(o[k], depth)) return false;
    }
    if (this.#pos + 1 > BUFFER) return false;
    buf[this.#pos++] = END;
    return true;
  }

  #item(x: unknown, depth: number): boolean {
    if (typeof x === 'object' && x !== null) return this.#small(x, depth + 1);
    if (typeof x === 'string') return this.#text(x);
    if (this.#pos + 5 > BUFFER) return false;
    this.#value(x);
    return true;
  }

  /** A string (its tag, length and code units) into the buffer only, or false when it does not fit. */
  #text(s: string): boolean {
    if (this.#pos + 3 + s.length > BUFFER) return false;
    this.#str(s);
    return true;
  }

  #name(path: string, d: Digest): void {
    // bounded: the rehearsal sends these with every check (a key can be long)
    if (this.#named >= PATHS || path.length > PATH_CHARS) return;
    this.#named++;
    this.#paths[path] = hex(d);
  }
}

/** The digest of a whole (checked, frozen) state at once. */
export function treeOf(state: unknown): Tree {
  const t = new TreeDigest(state);
  t.run(Infinity);
  return t.result();
}

/**
 * Where two trees part: the deepest path both name whose digests differ ('' when none does: what the
 * state holds outside them, or a node only one of them has), or null when they are the same.
 */
export function treeDiffers(mine: Tree, theirs: Tree): string | null {
  if (mine.h === theirs.h) return null;
  let found: string | null = null;
  const depth = (path: string): number => path.split('.').length;
  for (const [path, h] of Object.entries(mine.paths)) {
    const other = theirs.paths[path];
    if (other !== undefined && other !== h && (found === null || depth(path) > depth(found))) found = path;
  }
  return found ?? '';
}
