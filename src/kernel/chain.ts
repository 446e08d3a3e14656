import type { Migration } from '../contract.ts';
import { die } from './errors.ts';

/**
 * The migration chain: steps {from, to = from + 1}, gapless, no duplicates. Checked whenever a release
 * is loaded, with exact messages, before anything runs.
 */

export interface Step {
  readonly migration: Migration;
  readonly direction: 'up' | 'down';
  /** "1->2" or "2->1", for messages and reports. */
  readonly label: string;
}

/** Throws E_CHAIN unless the steps form one gapless sequence ending at `version` (or are empty). */
export function checkChain(migrations: readonly Migration[], version: number): void {
  if (migrations.length === 0) return;
  const sorted = [...migrations].sort((a, b) => a.from - b.from);
  sorted.forEach((m, i) => {
    if (m.to !== m.from + 1)
      die('E_CHAIN', `Migration steps must go up by exactly 1: migration ${m.from}->${m.to} should be ${m.from}->${m.from + 1}`);
    const prev = sorted[i - 1];
    if (prev && m.from === prev.from) die('E_CHAIN', `Two migrations start at version ${m.from}`);
    if (prev && m.from !== prev.to)
      die('E_CHAIN', `Migration chain has a gap: expected a step from ${prev.to} to ${prev.to + 1} but got ${m.from}->${m.to}`);
  });
  const last = sorted[sorted.length - 1]!;
  if (last.to > version)
    die('E_CHAIN', `Migration ${last.from}->${last.to} goes past the release's own version ${version}`);
  if (last.to !== version)
    die('E_CHAIN', `Migration chain ends at ${last.to} but the release is version ${version}: the step ${last.to}->${last.to + 1} is missing`);
}

/**
 * The steps from `from` to `to`, taken from `migrations` (already checked). Up uses each step's `up`;
 * down walks back with each step's `down` and refuses (E_NO_DOWN) where one is missing: mistakes cost.
 */
export function plan(migrations: readonly Migration[], from: number, to: number): Step[] {
  const byFrom = new Map(migrations.map((m) => [m.from, m]));
  const steps: Step[] = [];
  if (to > from) {
    for (let v = from; v < to; v++) {
      const m = byFrom.get(v);
      if (!m) die('E_CHAIN', `No migration from ${v} to ${v + 1}: cannot go from version ${from} to ${to}`);
      steps.push({ migration: m, direction: 'up', label: `${v}->${v + 1}` });
    }
  } else {
    for (let v = from; v > to; v--) {
      const m = byFrom.get(v - 1);
      if (!m) die('E_CHAIN', `No migration between ${v - 1} and ${v}: cannot go from version ${from} to ${to}`);
      if (m.down === undefined || m.down === null)
        die('E_NO_DOWN', `Migration ${v - 1}->${v} has no down: version ${from} cannot go back to ${to}. Mistakes cost: push a new version that repairs forward instead.`);
      steps.push({ migration: m, direction: 'down', label: `${v}->${v - 1}` });
    }
  }
  return steps;
}
