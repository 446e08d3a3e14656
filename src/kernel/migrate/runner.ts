/**
 * The migration runner: one direction of one step, run in slices over a frozen state, resumable, and
 * able to catch up with a newer state by re-migrating only what changed since the one it read.
 *
 *   entity form   each[kind] maps the entities of shape[kind] slice by slice; `finish` builds the
 *                 rest. catchUp(live) asks each collection what changed since the state it read
 *                 (node identity, O(changes)), maps just those entities, and runs `finish` again.
 *   whole form    whole(state) at once: nothing to slice, nothing to catch up (the kernel runs it
 *                 during the cut-over, on the final state).
 *
 * Everything here calls release code (each, finish, the collections). The caller runs every method
 * under the sandbox's time limit and checks what comes out (guard.ts); this file only keeps the books:
 * cursors, mapped collections, the drops each entity declared (kept per entity, so an entity migrated
 * again replaces its count rather than adding to it) and which entities the migration rewrote.
 */
import { types } from 'node:util';
import type { Collection, Direction, EntityContext, Key, Migration, MigrationContext, Shape, WholeFn } from '../../contract.ts';
import { MoltError, die } from '../errors.ts';
import { MAX_COMMAND_NAME, MAX_KINDS, inherited, ownSlots, show } from '../guard.ts';

/** An entity of a lossless step mapped back by the other direction, and a kind it dropped some of. */
export type MapBack = (mapped: unknown) => { value: unknown; lost: [string, number] | undefined };

export interface KindProgress {
  done: number;
  total: number;
}

interface KindRun {
  readonly kind: string;
  readonly source: Collection;
  readonly into: Collection;
  /** Every entry moves (the target layout differs), not only the rewritten ones. */
  readonly every: boolean;
  /** Whether the source leaves tombstones, and the tombstone (passed through untouched). */
  readonly tombstones: boolean;
  readonly tombstone: unknown;
  readonly map: (entity: unknown, ctx: EntityContext) => unknown;
  /** The other direction's map for this kind, when each entity rewritten is mapped back (roundTrip). */
  readonly back: ((entity: unknown, ctx: EntityContext) => unknown) | null;
  /** The source collection the mapped one was built from (advances with each catch-up). */
  base: unknown;
  mapped: unknown;
  cursor: unknown;
  done: number;
  total: number;
  /** Drops declared per entity key (only keys that declared some). */
  readonly drops: Map<Key, Record<string, number>>;
  /** Keys the migration rewrote: a ring of the last REWRITTEN_KEPT. */
  readonly rewritten: Key[];
  rewrittenAt: number;
}

/** The collection a first-pass slice wrote its entities into, as the runner holds it. */
export interface Placed {
  /** The collection the runner reads (the step's input), and the one it builds. */
  readonly source: Collection;
  readonly into: Collection;
  /** Every entry moves (the layouts differ): the built collection started empty, not as `base`. */
  readonly every: boolean;
  /** The collection read, in the step's input. */
  readonly base: unknown;
  /** The built collection before this slice (null: empty, when `every`) and after it. */
  readonly from: unknown;
  readonly to: unknown;
}

/** Told of the entities each first-pass slice rewrote (keys, the entities read, what they became). */
export interface SliceObserver {
  /** Before they go into the collection being built. */
  mapped(kind: string, keys: readonly Key[], before: readonly unknown[], after: readonly unknown[]): void;
  /** Once they are in it: `with` has run. */
  placed(kind: string, keys: readonly Key[], before: readonly unknown[], after: readonly unknown[], collection: Placed): void;
  /** A catch-up round re-migrated these entities (undefined: removed), and they are in the collection. */
  caught?(kind: string, keys: readonly Key[], after: readonly unknown[]): void;
}

/** One direction of a step in its object form (a bare function is the older whole-state form). */
export function directionOf(step: Migration, dir: 'up' | 'down'): Direction {
  const d = step[dir] as Direction | WholeFn | undefined;
  if (typeof d === 'function') return { describe: typeof step.describe === 'string' ? step.describe : '', whole: d };
  if (typeof d !== 'object' || d === null) die('E_MIGRATION_CONTRACT', `migration ${step.from}->${step.to} has no ${dir}`);
  return d;
}

/** How many rewritten keys per kind are kept to show people what changed. */
export const REWRITTEN_KEPT = 200;
/** The longest id of an entity rewritten that the committed frame names (rewritten()). */
export const MAX_CHANGED_ID = 256;

/**
 * The keys a collection's `changed` (or `read`) gave, read once into an array of the kernel's own: a plain array of
 * keys (strings or numbers), each slot read through its descriptor. The runner kept the release's own
 * array, and the catch-up round's observer kept it too, to read it again when the live process
 * compares what it built, outside any time limit: a getter at an index that answered the round's
 * reads and then never returned wedged the live process for good inside a cut-over, every command
 * waiting.
 */
function ownKeys(keys: unknown, label: string, kind: string, call = 'changed()'): Key[] {
  const bad = (what: string): never => die('E_MIGRATION_CONTRACT', `migration ${label}: the ${kind} collection's ${call} gave keys ${what}; expected an array of keys (strings or numbers)`);
  if (types.isProxy(keys) || !Array.isArray(keys)) bad('that are not an array');
  return ownSlots(keys as unknown[], (what) => bad(`with ${what}`), (key, i) => {
    if (typeof key !== 'string' && typeof key !== 'number') bad(`with ${key === null ? 'null' : typeof key === 'object' || typeof key === 'undefined' ? `an ${typeof key}` : `a ${typeof key}`} at [${i}]`);
  }) as Key[];
}

/**
 * What a collection's size() gave, as a count (what the kernel keeps is never the release's value). It
 * was kept as given, and the live process adds the kinds' totals up for progress after every slice,
 * outside any time limit: a size() that returned an object whose valueOf never returns wedged the live
 * process for good at a push (the rehearsal, which never adds them, sent it a {} for one, and a dry
 * run was reported as fine).
 */
export function ownSize(n: unknown, label: string, kind: string): number {
  if (!Number.isSafeInteger(n) || (n as number) < 0) die('E_MIGRATION_CONTRACT', `migration ${label}: the ${kind} collection's size() gave ${show(n)}; expected a count of its entries (an integer >= 0)`);
  return n as number;
}

/**
 * The most entities one slice reads. A slice makes five arrays that long (what the collection read,
 * what it became, what it was), and V8 puts an array of more than 16,382 slots (past 128 KiB, its
 * largest ordinary object) in its large-object space, in memory mapped for it alone: measured here,
 * 730 us to make and fill an array of 16,383 slots, against 34 us for 16,382.
 */
export const MAX_READ = 16_000;

export class Runner {
  readonly online: boolean;
  readonly #direction: Direction;
  readonly #label: string;
  readonly #kinds: KindRun[] = [];
  #state: unknown;
  #now: number;
  #rounds = 0;

  /**
   * @param source  the shape of the state it reads; target the shape of the state it builds
   * @param state   the frozen state to migrate (a snapshot of the live one)
   * @param back    the other direction of a step that declares itself lossless: each entity this one
   *                rewrites is mapped back by it and must come back as it was (the rehearsal's check)
   */
  constructor(direction: Direction, source: Shape | undefined, target: Shape | undefined, state: unknown, ctx: MigrationContext, label: string, back: Direction | null = null) {
    this.#direction = direction;
    this.#label = label;
    this.#state = state;
    this.#now = ctx.now;
    this.#entityCtx = this.#contextAt(ctx.now);
    // Kinds are looked up by name in plain records (the shapes, each, changes, renames, the drops), so
    // none may be named like what every object has, as a census may not (guard.ts `inherited`). A shape
    // or each naming `constructor` or `toString` found Object.prototype's there: refused as "target.get
    // is not a function", "k.into.with is not a function" or "Cannot assign to read only property
    // 'constructor'" (a rename to constructor likewise), saying nothing of the name.
    const named = (where: string, kinds: Iterable<string>) => {
      for (const kind of kinds) if (inherited(kind)) die('E_MIGRATION_CONTRACT', `migration ${label}: ${where} names a kind ${kind}, a name every object has (Object.prototype's); name it otherwise`);
    };
    if (source) named('the shape it reads', Object.keys(source));
    if (target) named('the shape it builds', Object.keys(target));
    const changes = direction.changes ?? {};
    named('changes', Object.keys(changes));
    for (const [kind, c] of Object.entries(changes)) if (typeof c?.rename === 'string') named(`changes.${kind}.rename`, [c.rename]);
    if (typeof direction.each === 'object' && direction.each !== null) named('each', Object.keys(direction.each));
    if (typeof direction.whole === 'function') {
      this.online = false;
      return;
    }
    if (typeof direction.finish !== 'function' || typeof direction.each !== 'object' || direction.each === null)
      die('E_MIGRATION_CONTRACT', `migration ${label} needs whole(state) or each: {kind: fn} with finish(state, mapped)`);
    if (!source || !target) die('E_MIGRATION_CONTRACT', `migration ${label} maps entities but neither the step nor the versions declare shapes`);
    this.online = true;
    for (const kind of Object.keys(direction.each)) {
      const map = direction.each[kind];
      const from = source[kind];
      if (typeof map !== 'function') die('E_MIGRATION_CONTRACT', `migration ${label}: each.${kind} is not a function`);
      if (!from) die('E_MIGRATION_CONTRACT', `migration ${label} maps ${kind}, which the shape it reads does not name (it names ${Object.keys(source).join(', ')})`);
      const renamed = direction.changes?.[kind]?.rename;
      const into = target[renamed ?? kind] ?? from;
      const value = from.get(state);
      const backMap = back !== null && typeof back.whole !== 'function' && typeof back.each === 'object' && back.each !== null ? back.each[renamed ?? kind] : undefined;
      this.#kinds.push({
        kind, source: from, into, every: into.layout !== from.layout, map, back: typeof backMap === 'function' ? backMap : null, tombstones: 'tombstone' in from, tombstone: from.tombstone,
        base: value, mapped: into.layout === from.layout ? value : null, cursor: null,
        done: 0, total: ownSize(from.size(value), label, kind), drops: new Map(), rewritten: [], rewrittenAt: 0,
      });
    }
  }

  /** Entities per kind: how far the first pass is. */
  progress(): Record<string, KindProgress> {
    const out: Record<string, KindProgress> = {};
    for (const k of this.#kinds) out[k.kind] = { done: k.done, total: k.total };
    return out;
  }

  get rounds(): number {
    return this.#rounds;
  }

  /** Whether the first pass over every collection is done. */
  get mapped(): boolean {
    return this.#kinds.every((k) => k.cursor === undefined);
  }

  /**
   * Map up to `max` entities (at most MAX_READ) of the first collection not yet done. Returns how many
   * it mapped (0 when the first pass is complete).
   */
  slice(max: number): number {
    const k = this.#kinds.find((x) => x.cursor !== undefined);
    if (!k) return 0;
    const read = k.source.read(k.base, k.cursor, Math.min(max, MAX_READ));
    const { values, next } = read;
    // the keys go on into what the live process keeps and names in its messages (digest.ts, a block's
    // first key), outside any time limit: strings or numbers, read once
    const keys = ownKeys(read.keys, this.#label, k.kind, 'read()');
    // sized for the usual case, every entity rewritten; cut to what was
    const outKeys: Key[] = new Array(keys.length);
    const outValues: unknown[] = new Array(keys.length);
    // what each rewritten entity was: the observer checks it against what it became
    const before: unknown[] = new Array(keys.length);
    let n = 0;
    for (let i = 0; i < keys.length; i++) {
      const entity = values[i];
      const mapped = this.#mapOne(k, keys[i]!, entity);
      if (k.every || mapped !== entity) {
        outKeys[n] = keys[i]!;
        outValues[n] = mapped;
        before[n++] = entity;
      }
    }
    outKeys.length = outValues.length = before.length = n;
    if (outKeys.length > 0) {
      const observer = this.observer;
      observer?.mapped(k.kind, outKeys, before, outValues);
      const from = k.mapped;
      k.mapped = k.into.with(from, outKeys, outValues);
      observer?.placed(k.kind, outKeys, before, outValues, { source: k.source, into: k.into, every: k.every, base: k.base, from, to: k.mapped });
    }
    k.done += keys.length;
    // A read() whose cursor does not move on (it gives back the cursor it was given, or pages past
    // what size() counts, and never a next of null) ran the first pass until the whole upgrade's
    // limit, 10 minutes, the error naming only that limit. The base does not change under the first
    // pass, so the same cursor reads the same page again.
    if (next !== null && (Object.is(next, k.cursor) || k.done > k.total))
      die('E_MIGRATION_CONTRACT', `migration ${this.#label}: the ${k.kind} collection's read() ${Object.is(next, k.cursor) ? `gave back the cursor it was given (${show(next)}) as the next one` : `has given ${k.done.toLocaleString('en')} entries and a next cursor still, but its size() counts ${k.total.toLocaleString('en')}`}: it would never reach the end`);
    k.cursor = next === null ? undefined : next;
    if (k.cursor === undefined) k.done = k.total;
    return Math.max(keys.length, 1);
  }

  /** Told of every entity a first-pass slice rewrote, before and after (the rehearsal checks them there). */
  observer: SliceObserver | null = null;

  /** Drops declared by the entity being mapped now (set by the one context `each` gets). */
  #drops: Record<string, number> | null = null;
  readonly #dropKinds = new Set<string>();
  /**
   * The first contract violation ctx.drop found, kept: the entity's migration it was thrown into may
   * catch it and go on, and the step is refused all the same (see #mapOne). A step whose `each` caught
   * drop('constructor')'s refusal committed, and its release held a kernel error to throw later.
   */
  #violation: MoltError | null = null;
  readonly #drop = (kind: unknown, n: unknown): void => {
    if (this.#violation !== null) throw this.#violation;
    try {
      this.#dropChecked(kind, n);
    } catch (err) {
      if (err instanceof MoltError) this.#violation = err;
      throw err;
    }
  };

  #dropChecked(kind: unknown, n: unknown): void {
    if (typeof kind !== 'string' || !Number.isSafeInteger(n) || (n as number) < 0)
      die('E_MIGRATION_CONTRACT', `migration ${this.#label}: ctx.drop(${String(kind).slice(0, 40)}, ${String(n)}) needs a kind and a count >= 0`);
    // the kinds a step drops cross to the live process and into every report: as few as a census counts
    if (!this.#dropKinds.has(kind)) {
      // summed into a record by name: drop('toString', 1) made its count the string "function
      // toString() { [native code] }…1" and the step committed with it, unaccepted; drop('__proto__', 1)
      // was lost without a word; drop('constructor', 1) threw "Cannot assign to read only property"
      if (inherited(kind))
        die('E_MIGRATION_CONTRACT', `migration ${this.#label}: ctx.drop(${JSON.stringify(kind)}, ${n}) names a kind ${kind}, a name every object has (Object.prototype's); name it otherwise`);
      if (kind.length > MAX_COMMAND_NAME || this.#dropKinds.size >= MAX_KINDS)
        die('E_MIGRATION_CONTRACT', `migration ${this.#label}: ctx.drop(${JSON.stringify(kind.slice(0, 40))}, ${n}): a step may drop at most ${MAX_KINDS} kinds, each named in at most ${MAX_COMMAND_NAME} characters`);
      this.#dropKinds.add(kind);
    }
    this.#drops ??= {};
    this.#drops[kind] = (this.#drops[kind] ?? 0) + (n as number);
  }

  #mapOne(k: KindRun, key: Key, entity: unknown): unknown {
    if (k.drops.size > 0) k.drops.delete(key);
    if (k.tombstones && entity === k.tombstone) return entity;
    this.#drops = null;
    const mapped = k.map(entity, this.#entityCtx);
    if (this.#violation !== null) throw this.#violation;
    if (this.#drops !== null) k.drops.set(key, this.#drops);
    if (mapped !== entity) {
      k.rewritten[k.rewrittenAt++ % REWRITTEN_KEPT] = key;
    }
    return mapped;
  }

  /**
   * The way back for the entities of `kind` (the kind this direction reads), when the step declares
   * itself lossless and the runner was given the other direction: what an entity this one made becomes
   * when mapped back, and the first kind that mapping back dropped some of. Release code: the caller
   * bounds it, and calls it only on what it has checked to be plain data.
   */
  mapBack(kind: string): MapBack | null {
    const k = this.#kinds.find((x) => x.kind === kind);
    if (!k || k.back === null) return null;
    const back = k.back;
    return (mapped) => {
      const outer = this.#drops;
      this.#drops = null;
      try {
        const value = back(mapped, this.#entityCtx);
        if (this.#violation !== null) throw this.#violation;
        const dropped = this.#drops as Record<string, number> | null;
        return { value, lost: dropped === null ? undefined : Object.entries(dropped).find(([, n]) => n > 0) };
      } finally {
        this.#drops = outer;
      }
    };
  }

  /** The context each entity's migration gets: the run's time, and drop(). Rebuilt when `now` moves. */
  #entityCtx!: EntityContext;

  /**
   * The live state moved on: re-migrate the entities that differ from the ones the runner read, by
   * node identity, and read from `live` from now on. Only after the first pass. Returns how many.
   */
  catchUp(live: unknown): number {
    if (!this.online || live === this.#state) {
      this.#state = live;
      return 0;
    }
    let n = 0;
    for (const k of this.#kinds) {
      const value = k.source.get(live);
      const keys = ownKeys(k.source.changed(k.base, value), this.#label, k.kind);
      if (keys.length > 0) {
        const values: unknown[] = new Array(keys.length);
        for (let i = 0; i < keys.length; i++) {
          const entity = k.source.lookup(value, keys[i]!);
          if (entity === undefined) k.drops.delete(keys[i]!);
          values[i] = entity === undefined ? undefined : this.#mapOne(k, keys[i]!, entity);
        }
        // the observer keeps what the round re-migrated and reads it later, outside any time limit
        // (digest.ts, caught): arrays of its own, never the ones `with` is handed (and may keep)
        const caught = { keys: keys.slice(), values: values.slice() };
        k.mapped = k.into.with(k.mapped, keys, values);
        this.observer?.caught?.(k.kind, caught.keys, caught.values);
        n += keys.length;
      }
      k.base = value;
      k.total = ownSize(k.source.size(value), this.#label, k.kind);
      k.done = k.total;
    }
    this.#state = live;
    this.#rounds++;
    return n;
  }

  /** The entity at `key` in the collection built for `kind` (undefined: none, or no such kind). */
  entity(kind: string, key: Key): unknown {
    const k = this.#kinds.find((x) => x.kind === kind);
    return k && k.mapped !== null ? k.into.lookup(k.mapped, key) : undefined;
  }

  /** The collection built for each kind so far (the state's as it is, for a kind nothing rewrote yet). */
  collections(): { kind: string; mapped: unknown; base: unknown; every: boolean }[] {
    return this.#kinds.map((k) => ({ kind: k.kind, mapped: k.mapped, base: k.base, every: k.every }));
  }

  /** The state it reads now (the snapshot, or the last state it caught up with). */
  get state(): unknown {
    return this.#state;
  }

  /** Build the new state: what finish (entity form) or whole (whole form) returned, unchecked, and the
   *  drops the entities declared, summed per kind. */
  result(now: number): { out: unknown; dropped: Record<string, number> } {
    this.#setNow(now);
    const dropped: Record<string, number> = {};
    let out: unknown;
    if (!this.online) {
      out = this.#direction.whole!(this.#state, { now });
    } else {
      for (const k of this.#kinds) for (const d of k.drops.values()) for (const kind in d) dropped[kind] = (dropped[kind] ?? 0) + d[kind]!;
      const mapped: Record<string, unknown> = {};
      for (const k of this.#kinds) mapped[k.kind] = k.mapped;
      out = this.#direction.finish!(this.#state, Object.freeze(mapped), Object.freeze({ now, dropped: Object.freeze({ ...dropped }) }));
      if (this.#violation !== null) throw this.#violation;
    }
    return { out, dropped };
  }

  #setNow(now: number): void {
    if (now !== this.#now) {
      this.#now = now;
      this.#entityCtx = this.#contextAt(now);
    }
  }

  #contextAt(now: number): EntityContext {
    return Object.freeze({ now, drop: this.#drop });
  }

  /** Keys of the entities the migration rewrote, newest last, per kind (at most REWRITTEN_KEPT each). */
  rewrittenKeys(): Record<string, Key[]> {
    const out: Record<string, Key[]> = {};
    for (const k of this.#kinds) {
      const n = Math.min(k.rewrittenAt, REWRITTEN_KEPT);
      const keys: Key[] = [];
      for (let i = k.rewrittenAt - n; i < k.rewrittenAt; i++) keys.push(k.rewritten[i % REWRITTEN_KEPT]!);
      out[k.kind] = [...new Set(keys)];
    }
    return out;
  }

  /**
   * Ids of the same entities, read from the new state (their keys where they have no string id), each
   * at most MAX_CHANGED_ID characters: one longer is left out. They go to every client in the committed
   * frame, twice (its report's and its own): a step that gave each post an id of 64 KiB committed with
   * a frame of 26 MB to every connection, encoded while the process served nothing.
   */
  rewritten(): Record<string, string[]> {
    const keys = this.rewrittenKeys();
    const out: Record<string, string[]> = {};
    for (const k of this.#kinds) {
      const ids: string[] = [];
      for (const key of keys[k.kind]!) {
        const entity = k.into.lookup(k.mapped, key) as { id?: unknown } | null | undefined;
        const id = typeof entity?.id === 'string' ? entity.id : typeof key === 'string' ? key : String(key);
        if (id.length <= MAX_CHANGED_ID) ids.push(id);
      }
      out[k.kind] = ids;
    }
    return out;
  }
}
