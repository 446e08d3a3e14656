/**
 * The whole wire protocol between a client and molt, in one file. docs/PROTOCOL.md explains it.
 * Frames are msgpack maps over one WebSocket at /ws. Types only plus the protocol version; the browser
 * client imports this file too, so it must stay free of Node imports.
 */

/** Bumped on any incompatible change to the frames below. */
export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------- client -> server

/** A command: `id` is chosen by the client and echoed in the reply; `type` names the command. Types
 *  starting with `$` are the kernel's own (below); the rest go to the running feed version. */
export interface CommandFrame {
  id: number;
  type: string;
  [field: string]: unknown;
}

/** Kernel commands, valid whatever feed version runs. */
export interface SinceCommand extends CommandFrame {
  type: '$since';
  /** The last event sequence number the client saw. Reply: {events: EventFrame[]} or error E_GAP. */
  seq: number;
}
export interface PingCommand extends CommandFrame {
  type: '$ping';
}

// ---------------------------------------------------------------- server -> client

/** First frame on every connection, and what a client needs to render. */
export interface HelloFrame {
  t: 'hello';
  protocol: number;
  /** This process's boot id: random at every start. The feed lives only in memory, so a page that
   *  reconnects and finds a different boot id is talking to a fresh process: everything before is gone. */
  boot: string;
  /** This connection's id, as the server names it in logs. */
  conn: string;
  version: number;
  release: string;
  /** The sequence number of the newest event; the next event has seq + 1. */
  seq: number;
  /** Command types the running version accepts. */
  commands: string[];
  /** URL of the running version's browser view module, or null if it ships none. */
  view: string | null;
}

export interface ErrorBody {
  code: string;
  message: string;
  /** On E_RATE_LIMITED (and E_TOO_MANY_CONNECTIONS): milliseconds to wait before trying again. */
  retryMs?: number;
}

export type ReplyFrame =
  | { t: 'reply'; id: number; ok: true; data: unknown }
  | { t: 'reply'; id: number; ok: false; error: ErrorBody };

/** A numbered feed event. Sequence numbers are gapless per process, across upgrades. */
export interface EventFrame {
  t: 'event';
  seq: number;
  /** The feed version that produced the event (shapes differ between versions). */
  version: number;
  event: { type: string; [field: string]: unknown };
}

/** Upgrade progress, sent to every client while the operator pushes or rolls back. */
export interface UpgradeFrame {
  t: 'upgrade';
  /** One id per upgrade attempt; every phase of one attempt carries it. */
  upgrade: string;
  phase: UpgradePhase;
  direction: 'up' | 'down';
  dryRun: boolean;
  from: { version: number; release: string };
  to: { version: number; release: string };
  /** Milliseconds spent in this phase (on 'begin': loading the release; absent where a phase has no time of its own). */
  ms?: number;
  /** Phase details: counts, dropped, sample before/after, the refusal. */
  detail?: Record<string, unknown>;
  /** On 'committed': what a client needs to switch, as in HelloFrame. */
  hello?: HelloFrame;
}

export type UpgradePhase =
  | 'begin' // accepted, the release loaded (rehearsed first): `to` and `direction` are known; ms = load time
  | 'load' // release evaluated, exports and chain checked (detail.steps)
  | 'migrate' // repeated while the new state is built beside the live one (detail.progress); the feed serves
  | 'catch-up' // a round migrating what commands changed meanwhile (detail: round, entities)
  | 'validate' // validate(), the census invariants and the checks passed (detail.census: after)
  | 'held' // `molt push --hold`: migrated and kept caught up, waiting for `molt cutover`
  | 'cutover' // the short pause begins: commands wait
  | 'committed' // code and state swapped; detail: report, pauseMs, changed
  | 'dry-run' // everything up to the cut-over passed; nothing changed
  | 'refused'; // failed or aborted before the cut-over; nothing changed (detail.error; detail.phase: where it stopped)

/** A frame-level error with no command to answer (e.g. undecodable frame). */
export interface ErrorFrame {
  t: 'error';
  error: ErrorBody;
}

export type ServerFrame = HelloFrame | ReplyFrame | EventFrame | UpgradeFrame | ErrorFrame;
