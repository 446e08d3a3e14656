/** What an upgrade tells the operator (the CLI prints it) and every client (in the upgrade frames). */

export type UpgradeResult = 'committed' | 'dry-run' | 'refused';

export interface UpgradeReport {
  upgrade: string;
  kind: 'push' | 'rollback';
  dryRun: boolean;
  result: UpgradeResult;
  from: { version: number; release: string };
  /** Until the release is loaded (a refusal in `begin`), `to` repeats `from`: the target is not known. */
  to: { version: number; release: string };
  direction: 'up' | 'down';
  /** One plain sentence for people: what changes for them (each step's describe, in order). */
  describe: string;
  /** Migration steps taken, e.g. [{step: "1->2", describe: "Likes are becoming emoji reactions."}]. */
  steps: { step: string; describe: string }[];
  /** Built beside the live state while the feed served (true), or whole at the cut-over (false). */
  online: boolean;
  census: { before: Record<string, number>; after: Record<string, number> | null };
  /** Entities that went through the migration (the census before), counted only when it ran. */
  migrated: number;
  /** Casualties per kind, as the migrations declared them. */
  dropped: Record<string, number>;
  /** Milliseconds commands waited: the cut-over only (the migration itself does not stop the feed). */
  pauseMs: number;
  /** From the first frame to the end, ms. */
  totalMs: number;
  /** Milliseconds per phase. `migrate` is the first pass (the live process one slice behind the
   *  rehearsal), `shadow` the replay of the last commands through the new version, `commit` the pause. */
  phases: { load?: number; migrate?: number; validate?: number; catchUp?: number; shadow?: number; commit?: number };
  /** Catch-up rounds before the cut-over, and the entities the last one (inside the pause) re-migrated. */
  rounds: number;
  cutoverEntities: number;
  /** The live process's heap at its peak during the upgrade, and the rehearsal's, MB. */
  peakHeapMb: number;
  /** How late the live process's event loop ran during the upgrade, ms (p99 and the longest). */
  loopDelayMs: { p99: number; max: number };
  /**
   * The pauses V8's collector made on the live process's main thread during the upgrade, as V8 reports
   * them: how many, their sum and the longest (ms), and how many were full collections. Marking steps
   * between the start and the end of a full collection are not reported, so not counted.
   */
  gc: { pauses: number; ms: number; longestMs: number; full: number };
  rehearsalPeakHeapMb: number | null;
  /**
   * CPU milliseconds the upgrade took, all threads: `live` is this process's while the upgrade ran
   * (the commands it served meanwhile included), `rehearsal` the rehearsal process's, as of its last
   * answer before the report was made.
   */
  cpuMs: { live: number; rehearsal: number };
  /** One entity before and after the migration. */
  sample: { kind: string; id: string; before: unknown; after: unknown } | null;
  /** Ids of entities the migration rewrote (newest last, at most 200 per kind). */
  changed: Record<string, string[]>;
  /** Commands that waited during the cut-over. */
  queued: number;
  /** Entities the declared-change check compared, per kind (null: no step declares shapes). */
  checked: Record<string, number> | null;
  /** The shadow run: recent commands replayed through the new version (null: it did not run). */
  shadow: { commands: number; replayed: number; notAccepted: Record<string, number>; differences: string[] } | null;
  /** A rollback inside the reversible window: writes the previous version refused (the first 20). */
  casualties: { type: string; user: string | null; at: number; error: string }[];
  /** What was skipped on the operator's say-so (--force), if anything. */
  skipped: string[];
  error?: { code: string; message: string };
  /** A refused attempt: the phase it stopped in, as the `refused` frame says it (`begin`: before the release loaded). */
  failedAt?: string;
}

export interface HistoryEntry {
  upgrade: string;
  at: string;
  kind: 'boot' | 'push' | 'rollback';
  dryRun: boolean;
  result: UpgradeResult;
  from: number | null;
  to: number;
  release: string;
  pauseMs: number;
  error?: string;
  /** A refused attempt: the phase it stopped in (`begin`: the release never loaded, and `to` is `from`). */
  failedAt?: string;
}

/** A running upgrade, as `molt status` shows it. */
export interface UpgradeProgress {
  upgrade: string;
  kind: 'push' | 'rollback';
  dryRun: boolean;
  phase: string;
  from: number;
  to: number | null;
  held: boolean;
  progress: { kinds: Record<string, { done: number; total: number }>; done: number; total: number; rate: number; etaMs: number | null; round: number };
  startedMs: number;
}
