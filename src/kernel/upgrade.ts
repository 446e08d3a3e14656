/**
 * The prepare half of an upgrade, as plain functions: everything that can fail happens here, and
 * nothing here touches the running system. The kernel calls them in order, announcing each phase, then
 * crosses the point of no return and commits in one assignment (kernel.ts, #change).
 *
 *   plan      which release owns the steps between the two shapes, and the steps (chain.ts)
 *   migrate   run each step on the frozen live state; check {state, dropped}; freeze the result
 *   verify    the target's validate(); the census invariants (after = before - dropped)
 */
import { plan as planSteps, type Step } from './chain.ts';
import { MoltError, die, type ErrorCode } from './errors.ts';
import { checkCensus, checkMigrationResult, checkProblems } from './guard.ts';
import { checkPlain } from './plain.ts';
import { Runner, directionOf } from './migrate/runner.ts';
import type { LoadedRelease } from './release.ts';
import { TimeoutError, describeThrown } from './sandbox.ts';

export interface Plan {
  /** The release whose migrations are used: the higher version of the two knows both shapes. */
  owner: LoadedRelease;
  steps: Step[];
  direction: 'up' | 'down';
}

export interface Migrated {
  state: unknown;
  dropped: Record<string, number>;
  sample: { kind: string; id: string; before: unknown; after: unknown } | null;
}

/** Call into release code outside a command (init, validate, census, sample), bounded in time. */
export function callRelease<T>(release: LoadedRelease, code: ErrorCode, what: string, fn: () => T, ms: number): T {
  try {
    return release.sandbox.run(fn, ms);
  } catch (err) {
    if (err instanceof MoltError) throw err;
    if (err instanceof TimeoutError) die(code === 'E_MIGRATION_THREW' ? 'E_MIGRATION_TIMEOUT' : code, `feed v${release.version} ${what} ${err.message}`);
    die(code, `feed v${release.version} ${what} ${describeThrown(err)}`);
  }
}

export function census(release: LoadedRelease, state: unknown, ms: number): Record<string, number> {
  return checkCensus(callRelease(release, 'E_VALIDATE', 'census()', () => release.feed.census(state), ms), release.version);
}

export function plan(current: LoadedRelease, target: LoadedRelease): Plan {
  if (target.hash === current.hash) die('E_SAME_VERSION', `release ${target.hash.slice(0, 12)} (v${target.version}) is already running`);
  const direction = target.version >= current.version ? 'up' : 'down';
  const owner = direction === 'up' ? target : current;
  return { owner, steps: planSteps(owner.migrations, current.version, target.version), direction };
}

/** Run the steps on the frozen live state. A step that throws, loops or mutates its input fails here. */
export function migrate(current: LoadedRelease, state: unknown, target: LoadedRelease, p: Plan, now: number, ms: number): Migrated {
  const before = callRelease(current, 'E_MIGRATION_THREW', 'sample()', () => current.feed.sample(state), ms);
  const ctx = Object.freeze({ now });
  const dropped: Record<string, number> = {};
  let next = state;
  for (const step of p.steps) {
    const where = `migration ${step.label} (${step.direction})`;
    const input = next;
    let run: { out: unknown; dropped: Record<string, number> };
    try {
      run = p.owner.sandbox.run(() => {
        const d = directionOf(step.migration, step.direction);
        const shapes = step.migration.shapes;
        const [source, target] = step.direction === 'up' ? [shapes?.from, shapes?.to] : [shapes?.to, shapes?.from];
        const runner = new Runner(d, source, target, input, ctx, step.label);
        if (runner.online) while (runner.slice(4096) > 0);
        return runner.result(now);
      }, ms);
    } catch (err) {
      if (err instanceof MoltError) throw err;
      if (err instanceof TimeoutError) die('E_MIGRATION_TIMEOUT', `${where} ${err.message}; nothing changed`);
      die('E_MIGRATION_THREW', `${where} ${describeThrown(err)}; nothing changed`);
    }
    const result = checkMigrationResult(run.out, step.label);
    for (const [kind, n] of Object.entries(run.dropped)) dropped[kind] = (dropped[kind] ?? 0) + n;
    for (const [kind, n] of Object.entries(result.dropped ?? {})) dropped[kind] = (dropped[kind] ?? 0) + n;
    next = result.state;
  }
  checkPlain(next, state, `state after ${p.steps.map((s) => s.label).join(', ') || 'no migration'}`, 'state');
  let sample: Migrated['sample'] = null;
  if (before && typeof before === 'object') {
    const { kind, id, data } = before as { kind: string; id: string; data: unknown };
    const migrated = next;
    const after = callRelease(target, 'E_VALIDATE', 'sample()', () => target.feed.sample(migrated, id), ms) as { data?: unknown } | null;
    sample = { kind: String(kind), id: String(id), before: data, after: after?.data ?? null };
  }
  return { state: next, dropped, sample };
}

/** The target's validate() on the migrated state, then the invariants. Returns the census after. */
export function verify(target: LoadedRelease, state: unknown, before: Record<string, number>, dropped: Record<string, number>, ms: number, problemsShown: number): Record<string, number> {
  const problems = checkProblems(callRelease(target, 'E_VALIDATE', 'validate()', () => target.feed.validate(state), ms), target.version);
  if (problems.length > 0)
    die('E_VALIDATE', `feed v${target.version} validate() rejected the migrated state (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems.slice(0, problemsShown).join('; ')}`);
  const after = census(target, state, ms);
  // Kinds counted before and after must differ by exactly what was declared dropped.
  for (const kind of Object.keys(before)) {
    if (!(kind in after)) continue; // the kind changed shape (likes -> reactions): not comparable
    const declared = dropped[kind] ?? 0;
    if (after[kind] !== before[kind]! - declared)
      die('E_INVARIANT', `${kind}: ${before[kind]} before, ${after[kind]} after, but the migration declared ${declared} dropped`);
  }
  return after;
}
