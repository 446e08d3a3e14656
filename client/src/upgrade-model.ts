/**
 * Folds the UpgradeFrames of one attempt into what the upgrade panel shows. Pure: frames in, model out.
 * Reads the frames of today's kernel and of the online migration (docs/PROTOCOL.md): repeated
 * `migrate` frames with progress, `catch-up` rounds, `held`, `cutover`. A phase it does not know is
 * ignored, so a page loaded before the server learned a new phase keeps working.
 */
import type { UpgradeFrame, UpgradePhase } from '../../src/transport/protocol.ts';

export type UpgradeOutcome = 'running' | 'committed' | 'refused' | 'dry-run';

/** Every phase this page understands; frames of any other phase are ignored. */
export const KNOWN = ['begin', 'load', 'migrate', 'catch-up', 'validate', 'held', 'cutover', 'committed', 'dry-run', 'refused'] as const;
export type KnownPhase = (typeof KNOWN)[number];

export interface Progress {
  readonly done: number;
  readonly total: number;
  /** Entities per second. */
  readonly rate: number | null;
  readonly etaMs: number | null;
  /** Catch-up round (0 while the first pass runs). */
  readonly round: number;
  /** Per kind: {posts: {done, total}, ...}. */
  readonly kinds: Readonly<Record<string, { done: number; total: number }>>;
}

export interface PhaseEntry {
  readonly phase: KnownPhase;
  readonly ms: number | null;
  readonly detail: Record<string, unknown>;
}

export interface UpgradeModel {
  readonly id: string;
  readonly direction: 'up' | 'down';
  readonly dryRun: boolean;
  readonly from: { version: number; release: string };
  readonly to: { version: number; release: string };
  readonly phases: readonly PhaseEntry[];
  readonly outcome: UpgradeOutcome;
  /** How long the attempt took: the report's total once it ends with one; a refused one's is the load
   *  and the wall time from its first frame to the refusal, as this page received them. */
  readonly totalMs: number;
  /** When this page received the attempt's first frame and its first migrate frame (the caller's clock,
   *  ms), to time what the frames do not: a refusal's whole attempt, the migration before validate. */
  readonly startedAt: number | null;
  readonly migrateFrom: number | null;
  /** From the committed phase: how long commands waited. */
  readonly pauseMs: number | null;
  /** Why it was refused. */
  readonly error: { code: string; message: string } | null;
  /** Migration steps, e.g. [{step: "1->2", describe: "likes become ❤️ reactions"}]. */
  readonly steps: readonly { step: string; describe: string }[];
  /** Entity counts per kind before the migration and after validation. */
  readonly census: { before: Record<string, number> | null; after: Record<string, number> | null };
  readonly dropped: Readonly<Record<string, number>> | null;
  /** One entity before and after the migration, looked up by the same id. */
  readonly sample: { kind: string; id: string; before: unknown; after: unknown } | null;
  /** Commands that waited in the queue while the kernel was paused. */
  readonly queued: number | null;
  /** One plain sentence for people: what changes for them (begin's detail.describe). */
  readonly describe: string | null;
  /** The newest progress of an online migration. */
  readonly progress: Progress | null;
  /** The newest catch-up round: what commands changed meanwhile, migrated again. */
  readonly catchUp: { round: number; entities: number; ms: number } | null;
  /** The short pause at the cut-over has begun (commands wait). */
  readonly cuttingOver: boolean;
  /** Migrated and kept caught up, waiting for the operator's `molt cutover`. */
  readonly held: boolean;
  /** Ids of the entities the migration rewrote, per kind (committed). */
  readonly changed: Readonly<Record<string, readonly string[]>>;
  /** The step a refused attempt stopped in, as the refusal says (null: it does not say). */
  readonly failedAt: UpgradePhase | null;
  /** Refused before its release loaded (the server's phase `begin`): `to` only repeats `from`. */
  readonly unloaded: boolean;
}

/** Refusals of a check of the new state: the panel's Validate step failed. */
const FAILED_CHECK = new Set(['E_VALIDATE', 'E_INVARIANT', 'E_UNDECLARED', 'E_DIVERGED', 'E_SHADOW', 'E_DROPS_NOT_ACCEPTED']);

/** The phases a successful attempt goes through, in order, for the panel's steps. */
export const STEPS: readonly UpgradePhase[] = ['begin', 'load', 'migrate', 'validate', 'committed'];

const TERMINAL: Partial<Record<KnownPhase, UpgradeOutcome>> = {
  committed: 'committed',
  refused: 'refused',
  'dry-run': 'dry-run',
};

/** Add one frame, received at `receivedAt` (ms, any clock: only differences count; absent, nothing is timed
 *  by receipt). A frame of another attempt starts a new model; a frame of an unknown phase changes
 *  nothing. */
export function foldUpgrade(model: UpgradeModel | null, frame: UpgradeFrame, receivedAt?: number): UpgradeModel | null {
  if (!(KNOWN as readonly string[]).includes(frame.phase)) return model;
  const phase = frame.phase as KnownPhase;
  const base: UpgradeModel =
    model && model.id === frame.upgrade
      ? model
      : {
          id: frame.upgrade,
          direction: frame.direction,
          dryRun: frame.dryRun,
          from: frame.from,
          to: frame.to,
          phases: [],
          outcome: 'running',
          totalMs: 0,
          startedAt: typeof receivedAt === 'number' ? receivedAt : null,
          migrateFrom: null,
          pauseMs: null,
          error: null,
          steps: [],
          census: { before: null, after: null },
          dropped: null,
          sample: null,
          queued: null,
          describe: null,
          progress: null,
          catchUp: null,
          cuttingOver: false,
          held: false,
          changed: {},
          failedAt: null,
          unloaded: false,
        };
  const detail = (frame.detail ?? {}) as Record<string, unknown>;
  const entry: PhaseEntry = { phase, ms: typeof frame.ms === 'number' ? frame.ms : null, detail };
  // a repeated phase (migrate, catch-up) replaces its entry: its newest frame says the most
  let phases = [...base.phases.filter((p) => p.phase !== phase), entry];
  // migrate frames are progress with no time of their own: the migration took from the first of them
  // to the first frame of a later phase
  const migrateFrom = phase === 'migrate' ? (base.migrateFrom ?? (typeof receivedAt === 'number' ? receivedAt : null)) : base.migrateFrom;
  if (phase !== 'migrate' && typeof receivedAt === 'number' && migrateFrom !== null) {
    phases = phases.map((p) => (p.phase === 'migrate' && p.ms === null ? { ...p, ms: Math.max(0, receivedAt - migrateFrom) } : p));
  }
  const next: { -readonly [K in keyof UpgradeModel]: UpgradeModel[K] } = {
    ...base,
    // 'begin' names the target as the running release (it is not loaded yet); later frames know it.
    from: frame.from,
    to: frame.to,
    direction: frame.direction,
    phases,
    migrateFrom,
    // (begin's ms is the load's, which the load frame carries too)
    totalMs: phases.reduce((sum, p) => sum + (p.phase === 'begin' ? 0 : (p.ms ?? 0)), 0),
    outcome: TERMINAL[phase] ?? base.outcome,
  };
  // Phases carry what they learned (load: steps; migrate on: census before; validate and held: census
  // after); committed and dry-run carry the whole report, which fills in anything missed.
  const report = isRecord(detail.report) ? detail.report : {};
  const steps = detail.steps ?? report.steps;
  if (Array.isArray(steps)) next.steps = steps.filter(isRecord).map((x) => ({ step: String(x.step ?? ''), describe: String(x.describe ?? '') }));
  const census = isRecord(report.census) ? report.census : {};
  // the census before: in every frame from the first migrate frame on (`before`), and in the report
  const before = isNums(detail.before) ? detail.before : frame.phase === 'migrate' ? detail.census : census.before;
  const after = frame.phase === 'validate' || frame.phase === 'held' ? detail.census : census.after;
  next.census = { before: isNums(before) ? before : base.census.before, after: isNums(after) ? after : base.census.after };
  const dropped = detail.dropped ?? report.dropped;
  if (isNums(dropped)) next.dropped = dropped;
  const sample = detail.sample ?? report.sample;
  if (isRecord(sample)) {
    next.sample = { kind: String(sample.kind ?? 'entity'), id: String(sample.id ?? ''), before: sample.before ?? null, after: sample.after ?? null };
  }
  // the report knows what the frames could not: the whole time, and each phase's (migrate frames are
  // progress, with no time of their own)
  if (typeof report.totalMs === 'number') next.totalMs = report.totalMs;
  const took = isRecord(report.phases) ? report.phases : null;
  // (the migration's own time beats the one this page measured between frames)
  if (took) next.phases = next.phases.map((p) => ((p.ms === null || p.phase === 'migrate') && typeof took[p.phase] === 'number' ? { ...p, ms: took[p.phase] as number } : p));
  const pause = detail.pauseMs ?? report.pauseMs;
  if (typeof pause === 'number') next.pauseMs = pause;
  if (typeof report.queued === 'number') next.queued = report.queued;
  if (phase === 'refused') {
    // what the phases' times miss (a migration's progress frames, a hold, an abort's wait): the wall
    // time from the attempt's first frame to this one, plus the load before that first frame
    if (typeof receivedAt === 'number' && base.startedAt !== null && model?.id === frame.upgrade) {
      const load = phases.find((p) => p.phase === 'begin')?.ms ?? phases.find((p) => p.phase === 'load')?.ms ?? 0;
      next.totalMs = Math.max(next.totalMs, load + (receivedAt - base.startedAt));
    }
    next.error = errorOf(detail.error ?? report.error);
    // the step that failed: what the error says, else where the server was (held or in the cut-over:
    // the swap never came). A whole-state step runs in the rehearsal while the server checks.
    const code = next.error?.code ?? '';
    const at = code.startsWith('E_MIGRATION_') ? 'migrate' : code.startsWith('E_RELEASE_') || code === 'E_CHAIN' ? 'load' : FAILED_CHECK.has(code) ? 'validate' : detail.phase;
    next.unloaded = detail.phase === 'begin';
    next.failedAt = at === 'begin' || at === 'load' || at === 'migrate' || at === 'validate' ? at : at === 'held' || at === 'cutover' || at === 'commit' ? 'committed' : null;
  }
  const describe = typeof detail.describe === 'string' ? detail.describe : describeOf(report.describe, frame.direction);
  if (describe) next.describe = describe;
  const progress = progressOf(detail.progress);
  if (progress) next.progress = progress;
  if (phase === 'catch-up' && typeof detail.round === 'number') {
    next.catchUp = { round: detail.round, entities: num(detail.entities) ?? 0, ms: num(detail.ms) ?? entry.ms ?? 0 };
  }
  next.held = phase === 'held' || (base.held && phase !== 'cutover' && next.outcome === 'running');
  if (phase === 'cutover') next.cuttingOver = true;
  if (next.outcome !== 'running') next.cuttingOver = false;
  if (isRecord(detail.changed)) {
    const changed: Record<string, string[]> = {};
    for (const [kind, ids] of Object.entries(detail.changed)) if (Array.isArray(ids)) changed[kind] = ids.filter((x): x is string => typeof x === 'string');
    next.changed = changed;
  }
  return next;
}

function num(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

/** The report's describe: one sentence, or one per direction. */
function describeOf(raw: unknown, direction: 'up' | 'down'): string | null {
  if (typeof raw === 'string') return raw;
  if (isRecord(raw) && typeof raw[direction] === 'string') return raw[direction] as string;
  return null;
}

function progressOf(raw: unknown): Progress | null {
  if (!isRecord(raw)) return null;
  const done = num(raw.done);
  const total = num(raw.total);
  if (done === null || total === null) return null;
  const kinds: Record<string, { done: number; total: number }> = {};
  if (isRecord(raw.kinds)) {
    for (const [kind, k] of Object.entries(raw.kinds)) {
      if (isRecord(k) && num(k.done) !== null && num(k.total) !== null) kinds[kind] = { done: k.done as number, total: k.total as number };
    }
  }
  return { done, total, rate: num(raw.rate), etaMs: num(raw.etaMs), round: num(raw.round) ?? 0, kinds };
}

/** What an upgrade means for the people reading, in one sentence, when the server said none. */
export function plainSentence(m: UpgradeModel): string {
  if (m.describe) return m.describe;
  const to = `version ${m.to.version}`;
  if (m.outcome === 'refused') return m.error?.code === 'E_ABORTED' ? `The operator called off an update of the feed: nothing changed for you.` : `An update of the feed was tried and refused: nothing changed for you.`;
  if (m.outcome === 'dry-run') return `The operator rehearsed an update to ${to}: nothing changed for you.`;
  if (m.outcome === 'committed') return m.direction === 'down' ? `The feed went back to ${to}.` : `The feed now runs ${to}.`;
  return m.direction === 'down' ? `The feed is going back to ${to}; keep reading and writing.` : `The feed is being updated to ${to}; keep reading and writing.`;
}

function errorOf(raw: unknown): { code: string; message: string } {
  if (isRecord(raw)) {
    return { code: String(raw.code ?? 'E_UNKNOWN'), message: String(raw.message ?? 'the upgrade was refused') };
  }
  if (typeof raw === 'string') return { code: 'E_UNKNOWN', message: raw };
  return { code: 'E_UNKNOWN', message: 'the upgrade was refused' };
}

function isNums(x: unknown): x is Record<string, number> {
  return isRecord(x) && Object.values(x).every((v) => typeof v === 'number');
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The one-line headline for the panel. */
export function headline(m: UpgradeModel): string {
  if (m.unloaded) return m.error?.code === 'E_ABORTED' ? 'Update called off' : 'Update refused before its release loaded';
  const to = `v${m.to.version}`;
  const down = m.direction === 'down';
  switch (m.outcome) {
    case 'running':
      if (m.cuttingOver) return `Switching to ${to}…`;
      if (m.held) return `${to} is ready, waiting for the switch`;
      return `${m.dryRun ? 'Dry run: ' : ''}${down ? 'Rolling back' : 'Upgrading'} to ${to}…`;
    case 'committed':
      return `${down ? 'Rolled back' : 'Upgraded'} to ${to}`;
    case 'dry-run':
      return `Dry run to ${to} passed`;
    case 'refused':
      // the operator called it off: not a failure of the release
      return `${down ? 'Rollback' : 'Upgrade'} to ${to} ${m.error?.code === 'E_ABORTED' ? 'called off' : 'refused'}`;
  }
}
