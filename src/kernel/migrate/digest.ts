/**
 * Digests of what a migration built, so the live process can compare its state with the rehearsal's.
 *
 * Both processes run the same pipeline on the same input, and the rehearsal checks what it built
 * (validate(), the census invariants, the declared changes) while the live process checks only that
 * what it will commit is plain data. Release code may keep state of its own and behave otherwise in
 * one process than in the other, so "the same state" is compared, not assumed: each process folds
 * every entity a step maps (its key and its content) into a digest, in the order the step maps them,
 * and the rest of the new state (what `finish` built around the collections) into another. The live
 * process commits nothing whose digests differ from the rehearsal's (E_DIVERGED).
 *
 * The digest is of content only, never of identity: a copy (the rehearsal's mirror) digests the same
 * as its original, and where slices end does not matter (the entities come in one order). It is a
 * 32-bit multiplicative hash (FNV-1a over 32-bit words) of every string's characters, every number's
 * bits and every key, with the shape of the data between them, one per block of entities: not
 * cryptographic (a release crafted to collide could pass), but an accidental difference (module state,
 * a counter, the other process's history) shows.
 *
 * It reads values directly (for-in, indices), so it runs only over data a plain-data walk has checked
 * already (plain.ts: no getter, no Proxy, no prototype of its own). Data nested more than DEEP levels
 * below what is digested (only a state grown deep over thousands of commands: plain.ts) is folded as
 * a mark, not read.
 */
import type { Key } from '../../contract.ts';

/** Entities per block: a difference is reported as the block it is in (its first key). */
export const BLOCK = 1024;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/**
 * The running hash (module state: the hash runs no code but its own, and never re-enters). Each step
 * is h = (h ^ word) * odd, mod 2^32: a bijection of h for a given word, so a difference in one word
 * always shows in the result; several differences cancel out by chance one time in 2^32.
 */
let h = 0;
const PRIME = 0x01000193;
const SEED = 0x811c9dc5;

function mix(x: number): void {
  h = Math.imul(h ^ x, PRIME);
}

/**
 * A string, two UTF-16 units a word. The rehearsal's copy of the state crossed msgpack, which writes
 * UTF-8: a lone surrogate (half an emoji, as a handler that cuts a text short can leave) arrives there
 * as U+FFFD. So a string is digested as UTF-8 would carry it (toWellFormed), which both sides agree on.
 */
function str(s: string): void {
  const n = s.length;
  h = Math.imul(h ^ (n | 0x40000000), PRIME);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    // a surrogate: the rest of the string as it would arrive (the same length, lone ones replaced)
    if ((a & 0xf800) === 0xd800 || (b & 0xf800) === 0xd800) return rest(wellFormed(s), i);
    h = Math.imul(h ^ (a | (b << 16)), PRIME);
  }
  if (i < n) {
    const a = s.charCodeAt(i);
    h = Math.imul(h ^ ((a & 0xf800) === 0xd800 ? 0xfffd : a), PRIME);
  }
}

function rest(s: string, from: number): void {
  const n = s.length;
  let i = from;
  for (; i + 1 < n; i += 2) h = Math.imul(h ^ (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)), PRIME);
  if (i < n) h = Math.imul(h ^ s.charCodeAt(i), PRIME);
}

/** `s` with every lone surrogate replaced by U+FFFD (String.prototype.toWellFormed, Node 20). */
export const wellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

/** How deep the digest follows data; below, a subtree is folded as a mark only (see the file's comment). */
const DEEP = 2_000;
/** How many of the input's first nodes `around` recognises when a step moved them. */
const MOVED = 1_024;

function value(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'string':
      str(v);
      return;
    case 'number':
      if ((v | 0) === v) {
        mix(1);
        mix(v);
      } else {
        f64[0] = v;
        mix(2);
        mix(u32[0]!);
        mix(u32[1]!);
      }
      return;
    case 'boolean':
      mix(v ? 3 : 4);
      return;
    case 'undefined':
      mix(5);
      return;
    case 'object':
      if (v === null) {
        mix(6);
        return;
      }
      // a state shared with older ones can nest deeper than a walk of new nodes goes (plain.ts)
      if (depth > DEEP) mix(12);
      else if (Array.isArray(v)) {
        mix(7);
        mix(v.length);
        for (let i = 0; i < v.length; i++) value(v[i], depth + 1);
      } else {
        mix(8);
        const o = v as Record<string, unknown>;
        for (const k in o) {
          str(k);
          value(o[k], depth + 1);
        }
        mix(9);
      }
      return;
    default:
      mix(10);
  }
}

function key(k: Key): void {
  if (typeof k === 'number') {
    mix(11);
    mix(k | 0);
    mix((k / 2 ** 32) | 0);
  } else str(k);
}

/** The digest of one plain value. */
export function digestOf(v: unknown): number {
  h = SEED;
  value(v, 0);
  return h >>> 0;
}

/** The stream a step's kind is digested in: its first pass, or its catch-up rounds. */
export function streamOf(step: number, kind: string, caughtUp = false): string {
  return `${step}:${kind}${caughtUp ? CAUGHT_UP : ''}`;
}

/** The step and the kind of a stream streamOf() named. */
export function streamParts(stream: string): { step: number; kind: string; caughtUp: boolean } {
  const caughtUp = stream.endsWith(CAUGHT_UP);
  const name = caughtUp ? stream.slice(0, -CAUGHT_UP.length) : stream;
  const at = name.indexOf(':');
  return { step: Number(name.slice(0, at)), kind: name.slice(at + 1), caughtUp };
}

const CAUGHT_UP = ' caught up';

/**
 * One stream of entities: a step's kind in the first pass, in blocks; or in one catch-up round, entity
 * by entity with their keys (see caught()).
 */
export interface Stream {
  /** Entities folded in. */
  n: number;
  /** The digest of each block of BLOCK entities (of each entity, when `keys` is there). */
  h: number[];
  keys?: Key[];
}

interface Open extends Stream {
  /** The first key of each block (kept only here: a difference names it). */
  first: Key[];
  at: number;
}

/** A collection a step built, as `around` marks it: "<step>:<kind>", what it was built over, and whether every entry moved. */
export interface Built {
  readonly label: string;
  readonly base: unknown;
  readonly every: boolean;
}

/**
 * What one process built, as digests per stream, since the last take(): "<step>:<kind>" (a first
 * pass), "<step>:<kind> caught up" (a catch-up round) and "state" (around the collections).
 */
export class Digests {
  readonly #streams = new Map<string, Open>();

  /** Fold entities (keys and their new values; undefined: removed) into a stream, in order. */
  entities(stream: string, keys: readonly Key[], values: readonly unknown[]): void {
    let s = this.#streams.get(stream);
    if (!s) {
      s = { n: 0, h: [], first: [], at: SEED };
      this.#streams.set(stream, s);
    }
    for (let i = 0; i < keys.length; i++) {
      if (s.n % BLOCK === 0) {
        if (s.n > 0) s.h.push(s.at >>> 0);
        s.first.push(keys[i]!);
        s.at = SEED;
      }
      h = s.at;
      key(keys[i]!);
      value(values[i], 0);
      s.at = h;
      s.n++;
    }
  }

  /**
   * The entities a catch-up round re-migrated (undefined: removed), each digested on its own with its
   * key. A catch-up round finds what changed by node identity, and the rehearsal's copy of the state
   * can hold new objects where the live state kept old ones (a patch that sets a whole subtree, as when
   * a vector's root splits), so the rehearsal may re-migrate more entities than the live process: the
   * live process compares those with what it holds (compareCaught). They are kept as they come (the
   * round calls this before its walk has checked them) and digested by take(), after that walk.
   */
  caught(stream: string, keys: readonly Key[], values: readonly unknown[]): void {
    this.#caught.push({ stream, keys, values });
  }

  readonly #caught: { stream: string; keys: readonly Key[]; values: readonly unknown[] }[] = [];

  /**
   * Fold what a pipeline built around its collections into a stream of its own: `state` walked against
   * `input` (the state the pipeline read). A node that is the input's own at the same place, or one of
   * the input's first nodes moved elsewhere, is folded as a mark of where it came from; a collection a
   * step built over the input's own (`built`) as a mark of that ("<step>:<kind>": the entities the step
   * rewrote are in their streams, the rest are the input's); everything else by content. At most a few
   * nodes for a state whose collections hold its size.
   */
  around(stream: string, state: unknown, input: unknown, built: ReadonlyMap<object, Built>): void {
    const moved = new Map<object, string>();
    // the input's nodes one and two levels down, by the path they were at (bounded)
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
      const top = input as Record<string, unknown>;
      for (const k in top) {
        const v = top[k];
        if (typeof v !== 'object' || v === null || moved.size >= MOVED) continue;
        moved.set(v, k);
        if (Array.isArray(v)) continue;
        const inner = v as Record<string, unknown>;
        for (const j in inner) {
          const w = inner[j];
          if (moved.size >= MOVED) break;
          if (typeof w === 'object' && w !== null && !moved.has(w)) moved.set(w, `${k}.${j}`);
        }
      }
    }
    // built over the input's collection where the walk finds it (`was`), or over one of the input's
    // first nodes, or over a collection an earlier step built so (a chain of steps), or all moved
    const overInput = (b: Built, was: unknown): boolean => {
      for (let at: Built | undefined = b, hops = 0; at !== undefined && hops < 64; at = built.get(at.base as object), hops++)
        if (at.every || at.base === was || moved.has(at.base as object)) return true;
      return false;
    };
    h = SEED;
    const walk = (v: unknown, was: unknown, depth: number): void => {
      if (typeof v !== 'object' || v === null) return value(v, depth);
      const b = built.get(v);
      // a built collection is a mark only where its entities are all in their streams or the input's
      // own: every entry moved (all of them mapped), or it was built over the input's collection as it
      // is there (what a collection's get() returned can be a copy of its own making)
      const label = v === was ? '=' : b !== undefined ? (overInput(b, was) ? b.label : undefined) : moved.get(v);
      if (label !== undefined) {
        mix(13);
        str(label);
        return;
      }
      if (depth > DEEP) return mix(12);
      const other = typeof was === 'object' && was !== null ? (was as Record<string | number, unknown>) : null;
      if (Array.isArray(v)) {
        mix(7);
        mix(v.length);
        for (let i = 0; i < v.length; i++) walk(v[i], other?.[i], depth + 1);
      } else {
        mix(8);
        const o = v as Record<string, unknown>;
        for (const k in o) {
          str(k);
          walk(o[k], other !== null && !Array.isArray(other) ? other[k] : undefined, depth + 1);
        }
        mix(9);
      }
    };
    walk(state, input, 0);
    this.#streams.set(stream, { n: 1, h: [], first: [''], at: h });
  }

  /** The streams so far, closed (each block's digest), and forget them. Whatever went into them must be
   *  checked plain data by now (the digest reads values directly). */
  take(): Record<string, Stream> {
    const out: Record<string, Stream> = {};
    for (const [name, s] of this.#streams) out[name] = { n: s.n, h: s.n === 0 ? [] : [...s.h, s.at >>> 0] };
    this.#firsts = new Map([...this.#streams].map(([name, s]) => [name, s.first]));
    this.#streams.clear();
    for (const { stream, keys, values } of this.#caught.splice(0)) {
      const s = (out[stream] ??= { n: 0, h: [], keys: [] });
      for (let i = 0; i < keys.length; i++) {
        s.keys!.push(keys[i]!);
        s.h.push(digestOf(values[i]));
        s.n++;
      }
    }
    return out;
  }

  /** The first keys of each block of the streams take() returned last. */
  #firsts = new Map<string, Key[]>();

  /**
   * Where `mine` (this process's, from take()) and `theirs` differ: the first stream and block that do,
   * with the key that block starts at. Null when they are the same.
   */
  differs(mine: Record<string, Stream>, theirs: Record<string, Stream>): { stream: string; block: number; first: Key | undefined; mine: number; theirs: number } | null {
    const names = [...new Set([...Object.keys(mine), ...Object.keys(theirs)])].filter((n) => !mine[n]?.keys && !theirs[n]?.keys).sort();
    for (const name of names) {
      const m = mine[name] ?? { n: 0, h: [] };
      const t = theirs[name] ?? { n: 0, h: [] };
      const blocks = Math.max(m.h.length, t.h.length);
      for (let i = 0; i < blocks; i++) {
        if (m.h[i] !== t.h[i])
          return { stream: name, block: i, first: this.#firsts.get(name)?.[i], mine: m.n, theirs: t.n };
      }
      if (m.n !== t.n) return { stream: name, block: Math.floor(Math.min(m.n, t.n) / BLOCK), first: undefined, mine: m.n, theirs: t.n };
    }
    return null;
  }
}

/**
 * The catch-up streams of two take()s: every entity this process re-migrated has the digest the
 * rehearsal's has for its key; one only the rehearsal re-migrated has the digest of what this process
 * holds for that key (`held`: read from the collection built here, checked plain data). The first that
 * does not, or null.
 */
export function compareCaught(mine: Record<string, Stream>, theirs: Record<string, Stream>, held: (stream: string, key: Key) => unknown): { stream: string; key: Key } | null {
  const names = [...new Set([...Object.keys(mine), ...Object.keys(theirs)])].filter((n) => mine[n]?.keys || theirs[n]?.keys).sort();
  for (const name of names) {
    const m = mine[name] ?? { n: 0, h: [], keys: [] };
    const t = theirs[name] ?? { n: 0, h: [], keys: [] };
    const there = new Map<Key, number>();
    t.keys!.forEach((k, i) => there.set(k, t.h[i]!));
    for (let i = 0; i < m.n; i++) {
      const key = m.keys![i]!;
      if (there.get(key) !== m.h[i]) return { stream: name, key };
      there.delete(key);
    }
    for (const [key, h] of there) if (digestOf(held(name, key)) !== h) return { stream: name, key };
  }
  return null;
}
