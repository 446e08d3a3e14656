/**
 * What the kernel checks on a migrated state, and the calls into release code it makes to do it:
 * validate(), census() and sample(), each bounded in time with its failure named.
 *
 *   verify   the target's validate(); then the census invariants: for every kind counted before and
 *            after (a renamed kind under its new name), after = before - what the steps declared dropped
 */
import { MoltError, die, type ErrorCode } from '../errors.ts';
import { checkCensus, checkProblems } from '../guard.ts';
import type { LoadedRelease } from '../release.ts';
import { TimeoutError, describeThrown } from '../sandbox.ts';

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

/**
 * The time limit of a census() run in the live process, unrehearsed (the running release's, for
 * status; both ends' of a rollback through the reversible window), ms: every command waits on it.
 */
const LIVE_CENSUS_MS = 2_000;

/** census() run in the live process, unrehearsed: within LIVE_CENSUS_MS (or the migration's limit, if less). */
export function liveCensus(release: LoadedRelease, state: unknown, limits: { readonly migrationTimeoutMs: number }): Record<string, number> {
  return census(release, state, Math.min(limits.migrationTimeoutMs, LIVE_CENSUS_MS));
}

/** census(), checked (inside the time limit: what it returns may have getters too). */
export function census(release: LoadedRelease, state: unknown, ms: number): Record<string, number> {
  return callRelease(release, 'E_VALIDATE', 'census()', () => checkCensus(release.feed.census(state), release.version), ms);
}

/** The target's validate() on a state: refuses with the first problems quoted. */
export function validate(target: LoadedRelease, state: unknown, ms: number, problemsShown: number, what = 'the migrated state'): void {
  const all = callRelease(target, 'E_VALIDATE', 'validate()', () => checkProblems(target.feed.validate(state), target.version), ms);
  if (all.length > 0) {
    // a validate() that stops listing says how many more in its last line ("... and 2900 more problems")
    // (counted from all it listed: counted after a cut to 1,005, a million problems were said to be 1,005)
    const problems = all.slice(0, problemsShown).map((p) => p.slice(0, 300));
    const more = /^\.\.\. and (\d+) more/.exec(all[all.length - 1]!.slice(0, 300));
    const count = more ? all.length - 1 + Number(more[1]) : all.length;
    die('E_VALIDATE', `feed v${target.version} validate() rejected ${what} (${count.toLocaleString('en')} problem${count === 1 ? '' : 's'}): ${problems.join('; ')}`);
  }
}

/**
 * The census invariants: a kind counted on both sides (under its new name if a step renamed it) must
 * differ by exactly what the steps declared dropped.
 */
export function checkCensusInvariants(before: Record<string, number>, after: Record<string, number>, dropped: Record<string, number>, renames: Record<string, string>): void {
  for (const kind of Object.keys(before)) {
    const renamed = renames[kind] ?? kind;
    const declared = dropped[kind] ?? 0;
    // a kind that goes away is dropped in full, and says so: a count that vanished (a rename left
    // undeclared, or to a name the census does not use) would otherwise lose every entity unchecked
    if (!(renamed in after)) {
      if (declared !== before[kind])
        die('E_INVARIANT', `${kind}${renamed !== kind ? ` (renamed ${renamed})` : ''}: ${before[kind]} before, and gone from the census after, but the migration declared ${declared} dropped (a kind that goes away is dropped in full, or renamed to a kind the census counts)`);
      continue;
    }
    if (after[renamed] !== before[kind]! - declared)
      die('E_INVARIANT', `${kind}${renamed !== kind ? ` (now ${renamed})` : ''}: ${before[kind]} before, ${after[renamed]} after, but the migration declared ${declared} dropped`);
  }
}

export interface SampleView {
  kind: string;
  id: string;
  before: unknown;
  after: unknown;
}

type Picked = { kind: string; id: string; data: unknown } | null;

/**
 * One entity before and after, looked up by the same id: the one `id` names, or the release's pick.
 * `running` wraps the running release's call alone (the rehearsal's --force may skip that one): it
 * wrapped both, so a new release whose sample() threw was refused as "the running release's sample()
 * breaks: push with --force", and pushed with --force, its broken sample() was skipped and committed.
 */
export function sampleOf(current: LoadedRelease, before: unknown, target: LoadedRelease, after: unknown, ms: number, id?: string, running: (fn: () => Picked) => Picked = (fn) => fn()): SampleView | null {
  // what a release returns is read inside the time limit: its toString or a getter may never return
  const read = (out: unknown): Picked => {
    if (out === null || typeof out !== 'object') return null;
    const o = out as { kind?: unknown; id?: unknown; data?: unknown };
    return { kind: String(o.kind).slice(0, 40), id: String(o.id).slice(0, 80), data: o.data ?? null };
  };
  const picked = running(() => callRelease(current, 'E_VALIDATE', 'sample()', () => read(current.feed.sample(before, id)), ms));
  if (picked === null) return null;
  const later = callRelease(target, 'E_VALIDATE', 'sample()', () => read(target.feed.sample(after, picked.id)), ms);
  return { kind: picked.kind, id: picked.id, before: picked.data, after: later?.data ?? null };
}
