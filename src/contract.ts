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
  /** The next state (same object when nothing changed). Produce it with immer. */
  readonly state: S;
  /** Plain data for the caller. */
  readonly reply?: unknown;
  /** Broadcast after the state is committed, in order. */
  readonly events?: readonly FeedEvent[];
  /** Bind the calling connection to this user (join, resume) or unbind it (null, sign out). */
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
  /** Entity counts per kind ({users, posts, ...}). Kinds present before and after a migration must
   *  agree with what the migration declared dropped. */
  census(state: S): Readonly<Record<string, number>>;
  /** Pick a representative entity (newest post) or look up the entity with `id`; null when none. */
  sample(state: S, id?: string): Sample | null;
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

/** One step in migrations/: pure, from -> to = from + 1. `down` absent means irreversible. */
export interface Migration<A = any, B = any> {
  readonly from: number;
  readonly to: number;
  /** One line for the operator: what changes in the state's shape. */
  readonly describe: string;
  up(state: A, ctx: MigrationContext): MigrationResult<B>;
  down?(state: B, ctx: MigrationContext): MigrationResult<A>;
}

/** What a release bundle evaluates to. Built by src/release/build.ts from a version folder. */
export interface ReleaseModule {
  readonly feed: FeedVersion;
  readonly migrations: readonly Migration[];
}
