/**
 * What the kernel tells a connection, in its own terms. The kernel knows nothing of wire frames: a
 * transport gives `connect` a Listener and turns each notice into the frames of its protocol
 * (src/transport/frames.ts does it for the WebSocket protocol of docs/PROTOCOL.md).
 *
 * Broadcast notices (an event, an upgrade phase) are one object handed to every listener, so a
 * transport can encode each once for all its sockets, keyed by the object.
 */

/** Why a command (or a frame) was refused: a stable code and a sentence for people. */
export interface Refusal {
  code: string;
  message: string;
  /** When waiting helps (rate limits, a full house): milliseconds to wait before trying again. */
  retryMs?: number;
}

/** The answer to one command. */
export type Result = { ok: true; data: unknown } | { ok: false; error: Refusal };

/** What a connection needs to start, and to switch after an upgrade. */
export interface Welcome {
  /** This process's boot id: random at every start. */
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

/** A feed event as numbered by the kernel: sequence numbers are gapless per process, across upgrades. */
export interface Numbered {
  seq: number;
  /** The feed version that produced it. */
  version: number;
  event: { type: string; [field: string]: unknown };
}

export type UpgradePhase = 'begin' | 'load' | 'migrate' | 'catch-up' | 'validate' | 'held' | 'cutover' | 'committed' | 'dry-run' | 'refused';

/** One phase of an upgrade (docs/PROTOCOL.md lists them). */
export interface UpgradeNotice {
  /** One id per upgrade attempt. */
  upgrade: string;
  phase: UpgradePhase;
  direction: 'up' | 'down';
  dryRun: boolean;
  from: { version: number; release: string };
  to: { version: number; release: string };
  ms?: number;
  detail?: Record<string, unknown>;
}

/** How a connection hears from the kernel. Each call is for this connection alone; `welcome` comes first. */
export interface Listener {
  welcome(welcome: Welcome): void;
  event(event: Numbered): void;
  /** `welcome` is given on 'committed': what the connection needs to switch to the new version. */
  upgrade(notice: UpgradeNotice, welcome?: Welcome): void;
}
