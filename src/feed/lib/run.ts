/**
 * Run one direction of a migration step over a whole state, at once: for tests, examples and property
 * checks. The kernel runs the same semantics in slices beside the live state (src/kernel/migrate/);
 * test/migrations checks that both agree.
 *
 *   each     every entity of shape[kind] is mapped (tombstones pass through untouched); an entity that
 *            comes back as the very same object is kept, so untouched subtrees stay shared
 *   finish   gets the old state, the mapped collections, and ctx.dropped (the drops `each` declared)
 *   dropped  the sum of what `each` declared and what `finish` returned
 */
import type { Direction, EntityContext, Key, Migration, MigrationContext, MigrationResult, WholeFn } from '../../contract.ts';

/** The direction `dir` of `step` in its object form (a bare function is a `whole` direction). */
export function direction(step: Migration, dir: 'up' | 'down'): Direction | undefined {
  const d = step[dir] as Direction | WholeFn | undefined;
  if (d === undefined) return undefined;
  return typeof d === 'function' ? { describe: step.describe ?? '', whole: d } : d;
}

export function runDirection(step: Migration, dir: 'up' | 'down', state: unknown, ctx: MigrationContext): MigrationResult<any> {
  const d = direction(step, dir);
  if (d === undefined) throw new Error(`migration ${step.from}->${step.to} has no ${dir}`);
  if (d.whole) return d.whole(state, ctx);
  if (!d.each || !d.finish) throw new Error(`migration ${step.from}->${step.to} ${dir} needs whole() or each and finish()`);
  const shape = dir === 'up' ? step.shapes?.from : step.shapes?.to;
  const target = dir === 'up' ? step.shapes?.to : step.shapes?.from;
  if (!shape || !target) throw new Error(`migration ${step.from}->${step.to} maps entities but declares no shapes`);
  const dropped: Record<string, number> = {};
  const entityCtx: EntityContext = {
    now: ctx.now,
    drop(kind, n) {
      dropped[kind] = (dropped[kind] ?? 0) + n;
    },
  };
  const mapped: Record<string, unknown> = {};
  for (const [kind, fn] of Object.entries(d.each)) {
    const source = shape[kind];
    if (!source) throw new Error(`migration ${step.from}->${step.to} maps ${kind}, which its shape does not name`);
    const into = target[d.changes?.[kind]?.rename ?? kind] ?? source;
    // into the same layout, untouched entries stay where they are; into another, every entry moves
    const every = into.layout !== source.layout;
    const value = source.get(state);
    const keys: Key[] = [];
    const values: unknown[] = [];
    let cursor: unknown = null;
    do {
      const read = source.read(value, cursor, 4096);
      for (let i = 0; i < read.keys.length; i++) {
        const entity = read.values[i];
        if ('tombstone' in source && entity === source.tombstone && !every) continue;
        const out = 'tombstone' in source && entity === source.tombstone ? entity : fn(entity, entityCtx);
        if (every || out !== entity) {
          keys.push(read.keys[i]!);
          values.push(out);
        }
      }
      cursor = read.next;
    } while (cursor !== null);
    mapped[kind] = into.with(every ? null : value, keys, values);
  }
  const result = d.finish(state, mapped, { now: ctx.now, dropped: { ...dropped } });
  for (const [kind, n] of Object.entries(result.dropped ?? {})) dropped[kind] = (dropped[kind] ?? 0) + n;
  return { state: result.state, dropped };
}
