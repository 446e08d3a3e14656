import { die } from './errors.ts';
import { checkPlain } from './plain.ts';

/**
 * Lineage: a handler's new state must descend from the one it was given, not be a state (or a
 * top-level part of one) that was live before and has been replaced since: a handler that memoized
 * an old state would otherwise erase everything written after it. Each replaced root and each
 * replaced top-level value is retired, so the check is O(top-level keys). The kernel keeps one for
 * what it serves; a window rollback's replay keeps its own for the states it builds.
 */
export class Lineage {
  readonly #retired = new WeakSet<object>();

  /**
   * What a handler returned as its new state, `next` (not `prev` itself), served live or replayed:
   * plain data that stays a tree, at most `maxGrowthBytes` more than `prev`, built on `prev` and not
   * on a state it replaced. Throws E_VALIDATE (the plain walk) or E_LINEAGE.
   */
  checkState(next: unknown, prev: unknown, where: string, maxGrowthBytes: number): void {
    checkPlain(next, prev, where, 'state', maxGrowthBytes, { tree: true });
    this.#check(next, prev, where);
  }

  /** Refuses (E_LINEAGE) a `next` that is, or holds at its top level, a retired state part. */
  #check(next: unknown, prev: unknown, where: string): void {
    if (this.#stale(next)) die('E_LINEAGE', `${where} returned a state that was replaced earlier: it must build on the state it is given`);
    if (typeof next !== 'object' || next === null || typeof prev !== 'object' || prev === null) return;
    for (const key of Object.keys(next)) {
      const value = (next as Record<string, unknown>)[key];
      if (value !== (prev as Record<string, unknown>)[key] && this.#stale(value))
        die('E_LINEAGE', `${where} returned a state whose ${key.slice(0, 40)} was replaced earlier: it must build on the state it is given`);
    }
  }

  /** `prev` was replaced by `next`: it and its top-level values that `next` does not keep are retired. */
  retire(prev: unknown, next: unknown): void {
    if (typeof prev !== 'object' || prev === null) return;
    this.#retired.add(prev);
    if (typeof next !== 'object' || next === null) return;
    for (const key of Object.keys(prev)) {
      const value = (prev as Record<string, unknown>)[key];
      if (typeof value === 'object' && value !== null && value !== (next as Record<string, unknown>)[key]) this.#retired.add(value);
    }
  }

  #stale(value: unknown): boolean {
    return typeof value === 'object' && value !== null && this.#retired.has(value);
  }
}
