/**
 * The handler contract: the only thing the kernel (never reloaded) and a feed version (hot-swapped)
 * agree on. Types only: this file is erased at build time, so a release bundles none of it.
 *
 *   client ──command──▶ kernel.dispatch ──(state, command, ctx)──▶ feed.handle
 *                                        ◀── {state, reply, events, bind} | {error}
 *   kernel: swaps the state cell, answers the caller, runs the effects (events to sockets, bind session)
 *
 * A feed version is pure: no I/O, no timers, no Date, no Math.random. Time, ids and the caller come in
 * through `Context`. The kernel compiles release code with every host global shadowed: no `require`,
 * `process`, timers or `Date`, so this is enforced, not just asked for.
 */

/** Opaque user id chosen by the feed (e.g. "u12"). */
export type UserId = string;

/** Who sent a command. `system` commands come from the kernel itself (presence), never from a socket. */
export interface Caller {
  /** Connection id, unique for the life of the process ("c17"); null for operator/system calls. */
  readonly conn: string | null;
  /** The user this connection is bound to (after join/resume), or null. */
  readonly user: UserId | null;
  readonly system: boolean;
}

/** The narrow context a handler gets. Never the kernel. */
export interface Context {
  /** Milliseconds since the epoch, read once by the kernel for this command. */
  readonly now: number;
  /** A fresh unguessable token (128 bits, base64url), e.g. for sessions. */
  token(): string;
  readonly caller: Caller;
  /** Users with at least one bound connection right now. */
  readonly online: readonly UserId[];
}

/** A command as sent by a client: a `type` plus plain-data fields. */
export interface Command {
  readonly type: string;
  readonly [field: string]: unknown;
}

/** An event the kernel will number and deliver. `to` restricts delivery to these users. */
export interface FeedEvent {
  readonly type: string;
  readonly to?: readonly UserId[];
  readonly [field: string]: unknown;
}

/** A refusal: the state is unchanged and the caller gets this error. `code` is the feed's own. */
export interface Refusal {
  readonly error: { readonly code: string; readonly message: string };
}

/** What `handle` returns when it accepts a command. */
export interface Accepted<S> {
  /** The next state (same object when nothing changed). Produce it with immer. A tree: no part of the
   *  state it was given may sit in two places in it (E_HANDLER_CONTRACT). */
  readonly state: S;
  /** Plain data for the caller. */
  readonly reply?: unknown;
  /** Broadcast after the state is committed, in order. */
  readonly events?: readonly FeedEvent[];
  /** Bind the calling connection to this user (join, resume) or unbind it (null, sign out): an id of at most 256 characters. */
  readonly bind?: UserId | null;
}

/** The closed union of what a handler may return. Anything else is a contract violation. */
export type Outcome<S> = Accepted<S> | Refusal;

/** One entity picked to show an upgrade: the same id is looked up before and after the migration. */
export interface Sample {
  readonly kind: string;
  readonly id: string;
  readonly data: unknown;
}

/** What a feed version module exports (src/feed/vN/index.ts). */
export interface FeedVersion<S = unknown> {
  /** The version number; equals the folder's N. */
  readonly version: number;
  /** Command types a client may send. Anything else is refused by the kernel with E_UNKNOWN_COMMAND. */
  readonly commands: readonly string[];
  /** The empty state a fresh feed starts from. */
  init(): S;
  /** Pure: (state, command, ctx) -> outcome. Must not mutate `state` (it is frozen). */
  handle(state: S, command: Command, ctx: Context): Outcome<S>;
  /** Problems found in `state`; empty when it is valid. Run on every migrated state before commit. */
  validate(state: S): readonly string[];
  /** Entity counts per kind ({users, posts, ...}), at most 100 kinds, none named like a property every
   *  object has (constructor, toString, ...: refused). Kinds present before and after a
   *  migration must agree with what the migration declared dropped. Cheap (running counts): the kernel
   *  counts every write with it, within the handler's time limit, and refuses an upgrade whose new
   *  state it counts slower than that. */
  census(state: S): Readonly<Record<string, number>>;
  /** Pick a representative entity (newest post) or look up the entity with `id`; null when none. */
  sample(state: S, id?: string): Sample | null;
  /** Where the state's entities live, kind by kind (v1 and v2 predate it: src/feed/lib/shapes.ts). */
  readonly shape?: Shape<S>;
}

/** What a migration step reports besides the new state. */
export interface MigrationResult<S> {
  readonly state: S;
  /** Entities deliberately lost, per kind (e.g. {reactions: 3}). Omitted kinds lost nothing. */
  readonly dropped?: Readonly<Record<string, number>>;
}

/** Migration context: pure inputs only. */
export interface MigrationContext {
  readonly now: number;
}

/** What `each` gets with one entity: the time, and a way to declare what migrating it lost. */
export interface EntityContext extends MigrationContext {
  /** Migrating this entity lost `n` entities of `kind` (e.g. three reactions folded into one like). */
  drop(kind: string, n: number): void;
}

/** What `finish` gets: the time, and the drops the entities' migrations declared, per kind. */
export interface FinishContext extends MigrationContext {
  readonly dropped: Readonly<Record<string, number>>;
}

/**
 * A collection of entities inside a state, as the migration runner and the checks see it: where it
 * lives, how to read it in slices, and what changed between two values of it, found by comparing node
 * identity (structural sharing makes that O(changes)). Implemented by src/feed/lib/collections.ts
 * (`vec`, `trie`); a version's `shape` names its collections. Release code: bounded like the rest.
 */
export interface Collection<S = any> {
  /** The layout ("vec", "trie"), for messages. */
  readonly layout: string;
  /** Whether the entries' order is meaningful (a vector: the timeline's order, slots as ids). */
  readonly ordered: boolean;
  /** The value a deleted entity leaves behind in place (vectors of posts keep `null`), if any. */
  readonly tombstone?: null;
  /** The collection inside `state`. */
  get(state: S): unknown;
  /** How many entries (tombstones included). O(1). */
  size(collection: unknown): number;
  /** Up to `max` entries from `cursor` (null: the start), in a stable order, as parallel lists of keys
   *  and entities; `next` is null at the end. */
  read(collection: unknown, cursor: unknown, max: number): { readonly keys: readonly Key[]; readonly values: readonly unknown[]; readonly next: unknown };
  /** The entity under `key`, or undefined when there is none. */
  lookup(collection: unknown, key: Key): unknown;
  /** Keys whose entities differ between two values of this collection (added and removed included). */
  changed(before: unknown, after: unknown): Key[];
  /**
   * `base` (null: empty) with keys[i] set to values[i]; a value `undefined` removes its key. Path copies.
   * What it builds must depend only on `base` and the entries in the order given, never on where the
   * batches end: the two processes build in slices of different sizes and compare the states node by
   * node (src/kernel/migrate/tree.ts), so a layout that follows the batches is refused, E_DIVERGED.
   */
  with(base: unknown, keys: readonly Key[], values: readonly unknown[]): unknown;
  /** The entity's name for messages ("post p1f"). */
  name(key: Key, entity: unknown): string;
}

export type Key = string | number;

/** A version's collections, by kind: `{users: vec(s => s.users), posts: vec(...), sessions: trie(...)}`. */
export type Shape<S = any> = { readonly [kind: string]: Collection<S> };

/**
 * What one direction of a step changes, per kind. The kernel compares the state before and after
 * entity by entity and refuses the first difference that is not declared here.
 */
export interface KindChange {
  /** The kind goes by another name after the step (a collection or a census kind: likes -> reactions). */
  readonly rename?: string;
  /** Fields every entity gains. */
  readonly add?: readonly string[];
  /** Fields every entity loses. */
  readonly remove?: readonly string[];
  /** Fields whose values the step rewrites. */
  readonly change?: readonly string[];
  /** Entities of this kind may be dropped (each counted in `dropped`; the operator confirms the count). */
  readonly drops?: boolean;
  /** Entities of this kind may be created (a kind that exists only after the step is created anyway). */
  readonly creates?: boolean;
  /** The entries of this ordered collection may change order. */
  readonly reorders?: boolean;
  /** The kind ceases to exist: every entity is dropped and counted. */
  readonly removed?: boolean;
}

/** Per kind. A kind, here as everywhere a step names one (shapes, `each`, a rename, `dropped`,
 *  `ctx.drop`), is never named like a property every object has (constructor, toString, __proto__,
 *  ...): E_MIGRATION_CONTRACT. A field may be: entities are plain data. */
export type Changes = { readonly [kind: string]: KindChange };

/**
 * One direction of a step (up or down), in one of two forms:
 *
 *  - entity by entity (online): `each` maps one entity of a collection at a time, purely; the kernel
 *    runs it in slices beside the live state while the feed keeps serving, and again on the entities
 *    that commands change meanwhile; `finish` then builds the rest of the state (counters, untouched
 *    collections) from the old state and the mapped collections, and must be cheap: no walk over all
 *    entities. Cut-over pauses only for the last changes.
 *  - whole state: `whole(state)` returns the new state at once. Fine for small or irregular steps; the
 *    kernel runs it during the cut-over, so the feed pauses for as long as it takes (the report says so).
 */
export interface Direction<A = any, B = any> {
  /** One plain sentence for the people watching: what changes for them ("Likes become emoji reactions"), at most 500 characters. */
  readonly describe: string;
  /** Every change this direction makes, per kind. Undeclared differences refuse the upgrade. */
  readonly changes?: Changes;
  readonly each?: { readonly [kind: string]: (entity: any, ctx: EntityContext) => unknown };
  finish?(state: A, mapped: { readonly [kind: string]: any }, ctx: FinishContext): MigrationResult<B>;
  whole?(state: A, ctx: MigrationContext): MigrationResult<B>;
}

/** The older form of a direction: a whole-state function (run as `whole`, with nothing declared). */
export type WholeFn<A = any, B = any> = (state: A, ctx: MigrationContext) => MigrationResult<B>;

/** One step in migrations/: pure, from -> to = from + 1. `down` absent means irreversible. */
export interface Migration<A = any, B = any> {
  readonly from: number;
  readonly to: number;
  /** One line for the operator: what changes in the state's shape (each direction's `describe` wins). */
  readonly describe?: string;
  /** Where each side's entities live; defaults to the two versions' own `shape` exports. */
  readonly shapes?: { readonly from: Shape<A>; readonly to: Shape<B> };
  readonly up: Direction<A, B> | WholeFn<A, B>;
  readonly down?: Direction<B, A> | WholeFn<B, A>;
  /** down(up(s)) deep-equals s, with nothing dropped, for every valid state s of version `from`. The
   *  property checks (test/migrations/properties.test.ts) hold a step that says so to it. */
  readonly lossless?: boolean;
}

/** What a release bundle evaluates to. Built by src/release/build.ts from a version folder. */
export interface ReleaseModule {
  readonly feed: FeedVersion;
  readonly migrations: readonly Migration[];
}
