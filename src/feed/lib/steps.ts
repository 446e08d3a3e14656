/**
 * A migration step written one entity at a time, and a runner that applies it to a whole state.
 *
 * The kernel is learning to run such steps online: `each` in slices while the feed keeps serving, and
 * again on the entities that commands change meanwhile, then `finish` for the small rest at the
 * cut-over; `changes` is what it checks the result against, entity by entity. Until it does, a step is
 * handed to today's kernel through `wholeState(step)`, which runs the same functions over every entity
 * in one go, so the functions tested now are the ones the online kernel will run.
 *
 *   each     a pure function of one entity (it gets null for a deleted slot); ctx.drop(kind, n)
 *            declares what this entity loses
 *   finish   the rest of the state from the old state and the mapped collections; cheap (no walk)
 */
import type { Migration, MigrationContext } from '../../contract.ts';
import { vecMap, type VecLike } from '../v1/vec.ts';

/** Where a kind of entity lives: a persistent vector or hash trie under a top-level key. */
export interface Collection {
  readonly type: 'vec' | 'trie';
  readonly key: string;
}

export const vec = (key: string): Collection => ({ type: 'vec', key });
export const trie = (key: string): Collection => ({ type: 'trie', key });

/** Entity kind -> where it lives in a version's state. */
export type Shape = Readonly<Record<string, Collection>>;

/** What a direction does to one kind: fields added, removed or changed; kinds created or removed. */
export interface KindChange {
  readonly add?: readonly string[];
  readonly remove?: readonly string[];
  readonly change?: readonly string[];
  readonly rename?: string;
  readonly creates?: true;
  readonly removed?: true;
  readonly drops?: true;
}

export interface StepContext extends MigrationContext {
  /** Declare that the entity being mapped loses `n` entities of `kind`. */
  drop(kind: string, n: number): void;
}

export interface Direction<A, B> {
  /** One plain sentence for people ("People get profiles; ..."). */
  readonly describe: string;
  readonly changes: Readonly<Record<string, KindChange>>;
  readonly each: Readonly<Record<string, (entity: any, ctx: StepContext) => unknown>>;
  finish(state: A, mapped: Readonly<Record<string, unknown>>, ctx: StepContext): { state: B; dropped?: Record<string, number> };
}

export interface Step<A, B> {
  readonly from: number;
  readonly to: number;
  readonly shapes: { readonly from: Shape; readonly to: Shape };
  readonly up: Direction<A, B>;
  readonly down?: Direction<B, A>;
}

/** Run one direction over a whole state: every entity through `each`, then `finish`. */
export function runWhole<A, B>(dir: Direction<A, B>, shape: Shape, state: A, now: number): { state: B; dropped: Record<string, number> } {
  const dropped: Record<string, number> = {};
  const ctx: StepContext = {
    now,
    drop(kind, n) {
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`ctx.drop('${kind}', ${n}): expected a count`);
      dropped[kind] = (dropped[kind] ?? 0) + n;
    },
  };
  const mapped: Record<string, unknown> = {};
  for (const [kind, fn] of Object.entries(dir.each)) {
    const where = shape[kind];
    if (where === undefined) throw new Error(`each.${kind}: the shape has no collection of that kind`);
    if (where.type !== 'vec') throw new Error(`each.${kind}: only vector collections are mapped entity by entity`);
    const list = (state as Record<string, unknown>)[where.key] as VecLike<unknown>;
    mapped[kind] = vecMap(list, (entity) => fn(entity, ctx));
  }
  const out = dir.finish(state, mapped, ctx);
  for (const [kind, n] of Object.entries(out.dropped ?? {})) dropped[kind] = (dropped[kind] ?? 0) + n;
  return { state: out.state, dropped };
}

/** Today's kernel takes whole-state functions: the step as a Migration, with the step kept beside. */
export function wholeState<A, B>(step: Step<A, B>): Migration<A, B> & { readonly step: Step<A, B> } {
  const { up, down } = step;
  return {
    from: step.from,
    to: step.to,
    describe: up.describe,
    step,
    up: (state, ctx) => runWhole(up, step.shapes.from, state, ctx.now),
    ...(down ? { down: (state: B, ctx: MigrationContext) => runWhole(down, step.shapes.to, state, ctx.now) } : {}),
  };
}
