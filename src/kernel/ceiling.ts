/**
 * The memory ceiling: the feed lives in this process's heap, and a process that runs out of heap
 * dies with everything in it. So growth stops before that, with a clear error, and nothing is lost:
 *
 * - a ceiling per counted kind (`maxPosts`, `maxUsers`): a command that would take the census of
 *   that kind past its ceiling is refused with E_FULL; commands that delete, read or change in
 *   place still work, so the feed stays usable at the ceiling;
 * - a heap high-water mark (`maxHeapMb`), read once per batch: past it, every command that
 *   would raise any census count is refused with E_FULL until memory is freed.
 *
 * It is generic: it reads the running version's census() after each command that changed the state
 * (census must therefore be cheap; v1 and v2 read running counters, O(1)) and never looks inside.
 */
import { getHeapStatistics } from 'node:v8';
import type { Refusal } from './notices.ts';
import type { ErrorCode } from './errors.ts';
import type { LoadedRelease } from './release.ts';

export interface CeilingLimits {
  maxPosts: number;
  maxUsers: number;
  maxHeapMb: number;
}

type Counts = Readonly<Record<string, number>>;

const MB = 1024 * 1024;
const FULL: ErrorCode = 'E_FULL';

export class Ceiling {
  readonly #max: Record<string, number>;
  readonly #heapMb: number;

  constructor(limits: CeilingLimits) {
    this.#max = { posts: limits.maxPosts, users: limits.maxUsers };
    this.#heapMb = limits.maxHeapMb;
  }

  /** Checks for one batch: the heap is read once, here, and each census is computed once. */
  batch(release: LoadedRelease): CeilingCheck {
    const usedMb = getHeapStatistics().used_heap_size / MB;
    return new CeilingCheck(release, this.#max, usedMb > this.#heapMb ? { usedMb, markMb: this.#heapMb } : null);
  }
}

export class CeilingCheck {
  #state: unknown = undefined;
  #counts: Counts | null = null;

  constructor(
    private readonly release: LoadedRelease,
    private readonly max: Readonly<Record<string, number>>,
    private readonly heap: { usedMb: number; markMb: number } | null,
  ) {}

  /** The refusal for a command that took the state from `before` to `after`, or null when it may stand. */
  check(before: unknown, after: unknown): Refusal | null {
    const was = this.#census(before);
    const now = this.#census(after);
    if (was === null || now === null) return null; // a census that fails is the upgrade checks' concern, not a reason to stop the feed
    for (const [kind, n] of Object.entries(now)) {
      if (typeof n !== 'number' || n <= (was[kind] ?? 0)) continue;
      const max = this.max[kind];
      if (max !== undefined && n > max)
        return { code: FULL, message: `the feed holds its maximum of ${max.toLocaleString('en')} ${kind}; nothing more can be added until some are deleted or the operator raises the ceiling` };
      if (this.heap)
        return { code: FULL, message: `the server is at its memory ceiling (heap ${Math.round(this.heap.usedMb)} MB, high-water mark ${this.heap.markMb} MB): nothing new can be added until memory is freed` };
    }
    return null;
  }

  #census(state: unknown): Counts | null {
    if (state === this.#state && this.#counts !== null) return this.#counts;
    let counts: unknown;
    try {
      counts = this.release.feed.census(state);
    } catch {
      return null;
    }
    if (typeof counts !== 'object' || counts === null) return null;
    this.#state = state;
    this.#counts = counts as Counts;
    return this.#counts;
  }
}
