/**
 * Every error code the kernel, the transport and the operator API can produce, in one table.
 * Feed versions have their own lowercase codes (e.g. "handle_taken"); kernel codes are E_*.
 * docs/PROTOCOL.md documents each one; test/kernel/errors.test.ts fails when one is undocumented.
 */
export const ERRORS = {
  // --- commands (over the socket) ---
  E_BAD_FRAME: 'frame is not a msgpack map',
  E_BAD_COMMAND: 'command needs a numeric id and a string type',
  E_UNKNOWN_COMMAND: 'this version does not handle that command type',
  E_HANDLER_THREW: 'the feed handler threw; the state is unchanged',
  E_HANDLER_CONTRACT: 'the feed handler returned something outside its contract; the state is unchanged',
  E_HANDLER_TIMEOUT: 'the feed handler ran past its time limit; the state is unchanged',
  E_CIRCUIT_OPEN: 'the feed handler ran past its time limit on the last commands of this type in a row; the type is set aside for retryMs, then tried again',
  E_LINEAGE: 'the feed handler returned a state that does not descend from the one it was given; the state is unchanged',
  E_TOO_LARGE: 'a reply, an event, the events of one command or one change to the state is larger than its limit; nothing changed',
  E_QUEUE_FULL: 'too many commands are waiting, across all connections; try again',
  E_GAP: 'the events since that sequence number are no longer kept; reload the timeline',
  E_SHUTTING_DOWN: 'the server is shutting down',
  E_RATE_LIMITED: 'too many commands (or joins) in too short a time; try again after retryMs',
  E_TOO_MANY_CONNECTIONS: 'too many connections from this address',
  E_FULL: 'the feed is at its ceiling: nothing more can be added',
  E_ORIGIN: 'a page from this origin may not open the WebSocket',
  // --- releases and upgrades (operator API) ---
  E_UNAUTHORIZED: 'missing or wrong operator token',
  E_BAD_REQUEST: 'the operator request is malformed',
  E_NOT_FOUND: 'no such resource (e.g. the view of a release that is not installed)',
  E_INTERNAL: 'an unexpected error in the server itself',
  E_BUSY: 'another upgrade is in progress',
  E_RELEASE_HASH: 'the release content does not match its hash',
  E_RELEASE_LOAD: 'the release bundle failed to load',
  E_RELEASE_EXPORTS: 'the release does not export a valid feed version and migrations',
  E_CHAIN: 'the migration chain is invalid or does not lead from the running version to the target',
  E_SAME_VERSION: 'that version is already running',
  E_MIGRATION_THREW: 'a migration threw',
  E_MIGRATION_TIMEOUT: 'a migration ran past its time limit',
  E_MIGRATION_CONTRACT: 'a migration returned something outside its contract',
  E_VALIDATE: "the target version's validate() rejected the migrated state",
  E_INVARIANT: 'an entity count changed without being declared dropped',
  E_UNDECLARED: 'the migration changed something its step does not declare: an entity, a field, the order',
  E_SHADOW: 'the shadow run found the new release refusing or breaking what the running one accepted, or a same-version release taking something away',
  E_DROPS_NOT_ACCEPTED: 'the migration drops entities and the operator has not accepted that exact count',
  E_NO_DOWN: 'a migration on the way back has no down: it is irreversible',
  E_NO_PREVIOUS: 'there is no previous version to roll back to',
  E_REHEARSAL: 'the rehearsal process died, ran out of memory or stopped answering while it ran the release; nothing changed',
  E_DIVERGED: 'the live process built a different state than the rehearsal checked (release code behaves otherwise in the two); nothing changed',
  E_MEMORY: 'there is not enough memory to build the new state beside the live one',
  E_ABORTED: 'the operator aborted the upgrade before its cut-over; nothing changed',
  E_CONFLICT: 'the release running is not the one the operator expected to replace',
  E_NOT_HELD: 'no upgrade is waiting for a cut-over',
  E_CUTOVER: 'the cut-over could not finish within its time limit; nothing changed',
} as const;

export type ErrorCode = keyof typeof ERRORS;

/**
 * An error that carries a code from the table. Thrown inside the kernel, sent to clients as data.
 *
 * Release code can catch one (ctx.drop refuses a bad kind by throwing it into a step's `each`) and
 * throw something later. So `instanceof MoltError` asks for the kernel's own brand, not the prototype
 * chain, and every one is frozen, its class and prototype too: a handler that threw
 * `Object.create(Object.getPrototypeOf(caught))` with a code and message of its own was answered with
 * that code as the kernel's (E_SHUTTING_DOWN, say), and a message with a getter that never returned
 * wedged the live process for good where the answer was encoded, outside the watchdog.
 */
export class MoltError extends Error {
  readonly #kernel = true;
  readonly code: ErrorCode;
  readonly detail: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message?: string, detail?: Record<string, unknown>) {
    super(message ?? ERRORS[code]);
    this.name = 'MoltError';
    this.code = code;
    this.detail = detail;
    if (new.target === MoltError) Object.freeze(this);
  }
  /** Made by the kernel (the brand), whatever its prototype chain says. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && #kernel in value;
  }
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}
Object.freeze(MoltError.prototype);
Object.freeze(MoltError);

/** Raise a coded error, immer-style. */
export function die(code: ErrorCode, message?: string, detail?: Record<string, unknown>): never {
  throw new MoltError(code, message, detail);
}

/**
 * The first `max` characters of `text` (release code's, a refusal's message or a thrown one), as a
 * string of their own. V8's `slice` of a long string is a view that keeps the whole text alive: a
 * previous release that refused each replayed write with a 16 MB message kept 16 MB a casualty, and a
 * dry run of `rollback --replay` over 300 such writes killed the process (heap out of memory).
 */
export function own(text: string, max: number): string {
  return JSON.parse(JSON.stringify(text.slice(0, max))) as string;
}
