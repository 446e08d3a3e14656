/**
 * What the slices of a first pass walked with the plain-data check, so the walk at the end can skip it.
 *
 * A step that maps a kind entity by entity builds its collection slice by slice: `base` (the collection
 * it read) -> to1 -> to2 -> ... -> built. Each slice walks its collection against the one before it
 * (checkPlain(to, from)): every node the slice made. If every slice's `from` is the previous slice's
 * `to`, starting at `base`, then every node of `built` that `base` does not hold was walked by some
 * slice, and the walk at the end skips `built` wherever it finds it across from `base`. This is decided
 * by object identity alone: no release code says what was walked.
 */
import type { Key } from '../../contract.ts';
import { MoltError, die } from '../errors.ts';
import { checkPlain } from '../plain.ts';
import type { Placed } from './runner.ts';

interface Track {
  readonly step: number;
  readonly kind: string;
  readonly base: unknown;
  built: unknown;
  /** Every slice so far was walked against the one before it, from `base`. */
  whole: boolean;
}

export class Walked {
  readonly #tracks = new Map<string, Track>();

  /**
   * A slice of step `step` placed entities of `kind`: `c.from` -> `c.to`, and the caller walks `c.to`
   * against `c.from` if this returns true (the chain is whole). `also`, asked only while the chain
   * holds, can break it for a reason of the caller's (the rehearsal's: the collection changed at other
   * keys than the slice rewrote); it then checks the slice's entities one by one instead.
   */
  note(step: number, kind: string, c: Placed, also?: () => boolean): boolean {
    const id = `${step}:${kind}`;
    let track = this.#tracks.get(id);
    if (!track) {
      // a collection that starts empty (every entry moves to another layout) chains from nothing
      track = { step, kind, base: c.base, built: c.every ? null : c.base, whole: !c.every };
      this.#tracks.set(id, track);
    }
    if (track.built !== c.from || (also !== undefined && !also())) track.whole = false;
    track.built = c.to;
    return track.whole;
  }

  /** Every collection the slices built, with its step, what it was built over, and whether it was walked whole. */
  tracks(): readonly Readonly<Track>[] {
    return [...this.#tracks.values()].sort((a, b) => a.step - b.step);
  }

  /**
   * The collections walked whole, each with the collection it was built over: the walk at the end skips
   * one where it finds it across from that very collection in the state it walks against. A later
   * step's collection built over one an earlier step built counts as built over that one's base.
   */
  over(): Map<object, object> {
    const over = new Map<object, object>();
    for (const t of this.tracks()) {
      if (!t.whole || typeof t.built !== 'object' || t.built === null || typeof t.base !== 'object' || t.base === null || t.built === t.base) continue;
      over.set(t.built, over.get(t.base) ?? t.base);
    }
    return over;
  }
}

/**
 * The walk of a slice: its new collection against the one before it, in one walk. The entity is named
 * only when something is wrong (finding it costs walks of their own).
 */
export function walkSlice(where: string, kind: string, keys: readonly Key[], before: readonly unknown[], after: readonly unknown[], c: Placed, hidden = true): void {
  try {
    checkPlain(c.to, c.from, where, 'state', Infinity, { locate: false, hidden });
  } catch (err) {
    if (!(err instanceof MoltError) || err.code !== 'E_VALIDATE') throw err;
    checkEntities(where, kind, keys, before, after, hidden);
    // not in an entity: in the collection's own nodes
    checkPlain(c.to, c.from, where, 'state', Infinity, { hidden });
    throw err;
  }
}

/** The plain-data walk of a slice's entities, each against the one it replaces; a failure names it. */
export function checkEntities(where: string, kind: string, keys: readonly Key[], before: readonly unknown[], after: readonly unknown[], hidden = true): void {
  try {
    checkPlain(after, before, where, 'state', Infinity, { hidden });
  } catch (err) {
    const m = err instanceof MoltError ? / at \[(\d+)\]([^;]*);/.exec(err.message) : null;
    if (!m) throw err;
    const e = err as MoltError;
    const i = Number(m[1]);
    const key = keys[i]!;
    const at = typeof key === 'number' ? `${kind}[${key}]` : `${kind}.${key}`;
    const id = (before[i] as { id?: unknown } | null)?.id;
    const named = typeof id === 'string' || typeof id === 'number' ? ` (id ${JSON.stringify(id)})` : '';
    die(e.code, e.message.replace(m[0], ` at ${at}${m[2]}${named};`));
  }
}

/**
 * The entities a catch-up round re-migrated (undefined: removed), checked as checkEntities checks a
 * slice's: the digests keep them and read them later, outside any time limit.
 */
export function checkCaught(where: string, kind: string, keys: readonly Key[], after: readonly unknown[], hidden = true): void {
  const present: Key[] = [];
  const values: unknown[] = [];
  for (let i = 0; i < after.length; i++) {
    if (after[i] === undefined) continue;
    present.push(keys[i]!);
    values.push(after[i]);
  }
  if (values.length > 0) checkEntities(where, kind, present, [], values, hidden);
}
