/**
 * Folds the UpgradeFrames of one attempt into what the upgrade panel shows. Pure: frames in, model out.
 */
import type { UpgradeFrame, UpgradePhase } from '../../src/transport/protocol.ts';

export type UpgradeOutcome = 'running' | 'committed' | 'refused' | 'dry-run';

export interface PhaseEntry {
  readonly phase: UpgradePhase;
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
  /** Sum of the phases' ms. */
  readonly totalMs: number;
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
}

/** The phases a successful attempt goes through, in order, for the panel's steps. */
export const STEPS: readonly UpgradePhase[] = ['begin', 'load', 'migrate', 'validate', 'committed'];

const TERMINAL: Partial<Record<UpgradePhase, UpgradeOutcome>> = {
  committed: 'committed',
  refused: 'refused',
  'dry-run': 'dry-run',
};

/** Add one frame. A frame of another attempt starts a new model. */
export function foldUpgrade(model: UpgradeModel | null, frame: UpgradeFrame): UpgradeModel {
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
          pauseMs: null,
          error: null,
          steps: [],
          census: { before: null, after: null },
          dropped: null,
          sample: null,
          queued: null,
        };
  const detail = (frame.detail ?? {}) as Record<string, unknown>;
  const entry: PhaseEntry = { phase: frame.phase, ms: typeof frame.ms === 'number' ? frame.ms : null, detail };
  const next: { -readonly [K in keyof UpgradeModel]: UpgradeModel[K] } = {
    ...base,
    // 'begin' names the target as the running release (it is not loaded yet); later frames know it.
    from: frame.from,
    to: frame.to,
    direction: frame.direction,
    phases: [...base.phases.filter((p) => p.phase !== frame.phase), entry],
    totalMs: base.totalMs + (entry.ms ?? 0),
    outcome: TERMINAL[frame.phase] ?? base.outcome,
  };
  // Phases carry what they learned (load: steps; migrate: census before, dropped, sample; validate:
  // census after); committed and dry-run carry the whole report, which fills in anything missed.
  const report = isRecord(detail.report) ? detail.report : {};
  const steps = detail.steps ?? report.steps;
  if (Array.isArray(steps)) next.steps = steps.filter(isRecord).map((x) => ({ step: String(x.step ?? ''), describe: String(x.describe ?? '') }));
  const census = isRecord(report.census) ? report.census : {};
  const before = frame.phase === 'migrate' ? detail.census : census.before;
  const after = frame.phase === 'validate' ? detail.census : census.after;
  next.census = { before: isNums(before) ? before : base.census.before, after: isNums(after) ? after : base.census.after };
  const dropped = detail.dropped ?? report.dropped;
  if (isNums(dropped)) next.dropped = dropped;
  const sample = detail.sample ?? report.sample;
  if (isRecord(sample)) {
    next.sample = { kind: String(sample.kind ?? 'entity'), id: String(sample.id ?? ''), before: sample.before ?? null, after: sample.after ?? null };
  }
  const pause = detail.pauseMs ?? report.pauseMs;
  if (typeof pause === 'number') next.pauseMs = pause;
  if (typeof report.queued === 'number') next.queued = report.queued;
  if (frame.phase === 'refused') next.error = errorOf(detail.error ?? report.error);
  return next;
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
  const to = `v${m.to.version}`;
  const down = m.direction === 'down';
  switch (m.outcome) {
    case 'running':
      return `${m.dryRun ? 'Dry run: ' : ''}${down ? 'Rolling back' : 'Upgrading'} to ${to}…`;
    case 'committed':
      return `${down ? 'Rolled back' : 'Upgraded'} to ${to}`;
    case 'dry-run':
      return `Dry run to ${to} passed`;
    case 'refused':
      return `${down ? 'Rollback' : 'Upgrade'} to ${to} refused`;
  }
}
