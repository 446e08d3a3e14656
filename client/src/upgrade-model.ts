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
  /** The migrate phase's details, when it ran. */
  readonly counts: unknown;
  readonly dropped: Readonly<Record<string, number>> | null;
  readonly sample: { before: unknown; after: unknown } | null;
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
          counts: null,
          dropped: null,
          sample: null,
        };
  const detail = (frame.detail ?? {}) as Record<string, unknown>;
  const entry: PhaseEntry = { phase: frame.phase, ms: typeof frame.ms === 'number' ? frame.ms : null, detail };
  const next: { -readonly [K in keyof UpgradeModel]: UpgradeModel[K] } = {
    ...base,
    phases: [...base.phases.filter((p) => p.phase !== frame.phase), entry],
    totalMs: base.totalMs + (entry.ms ?? 0),
    outcome: TERMINAL[frame.phase] ?? base.outcome,
  };
  if (typeof detail.pauseMs === 'number') next.pauseMs = detail.pauseMs;
  if (detail.counts !== undefined) next.counts = detail.counts;
  if (isRecord(detail.dropped)) next.dropped = detail.dropped as Record<string, number>;
  if (isRecord(detail.sample)) next.sample = { before: detail.sample.before ?? null, after: detail.sample.after ?? null };
  if (frame.phase === 'refused') next.error = errorOf(detail.error);
  return next;
}

function errorOf(raw: unknown): { code: string; message: string } {
  if (isRecord(raw)) {
    return { code: String(raw.code ?? 'E_UNKNOWN'), message: String(raw.message ?? 'the upgrade was refused') };
  }
  if (typeof raw === 'string') return { code: 'E_UNKNOWN', message: raw };
  return { code: 'E_UNKNOWN', message: 'the upgrade was refused' };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The one-line headline for the panel. */
export function headline(m: UpgradeModel): string {
  const arrow = `v${m.from.version} → v${m.to.version}`;
  const verb = m.direction === 'down' ? 'Rolling back' : 'Upgrading';
  switch (m.outcome) {
    case 'running':
      return `${verb} ${arrow}${m.dryRun ? ' (dry run)' : ''}…`;
    case 'committed':
      return `${m.direction === 'down' ? 'Rolled back' : 'Upgraded'} ${arrow}`;
    case 'dry-run':
      return `Dry run ${arrow} passed: nothing changed`;
    case 'refused':
      return `${m.direction === 'down' ? 'Rollback' : 'Upgrade'} ${arrow} refused: nothing changed`;
  }
}
