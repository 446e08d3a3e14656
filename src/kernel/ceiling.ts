/**
 * The memory ceiling: the feed lives in this process's heap, and a process that runs out of heap
 * dies with everything in it. So growth stops before that, with a clear error, and nothing is lost:
 *
 * - a ceiling per counted kind (`maxPosts`, `maxUsers`): a command that would take the census of
 *   that kind past its ceiling is refused with E_FULL; commands that delete, read or change in
 *   place still work, so the feed stays usable at the ceiling;
 * - a heap high-water mark (`maxHeapMb`), read once per batch: past it, only reads and what frees
 *   something are served: a command that changes the state is refused with E_FULL unless it lowers
 *   a census count and raises none (a delete). Growth the census does not count (a release adding
 *   arrays under keys of its own) would otherwise go on to the end of the heap;
 * - a second mark (`haltHeapMb`), past which no feed command runs at all, reads included: memory
 *   the release keeps outside the state (a module-level cache that grows with every command) is
 *   not the state's, and only stopping its code stops it. The kernel also loads the running
 *   release again past the first mark (kernel.ts), which frees what its code kept.
 *
 * It is generic: it reads the running version's census() after each command that changed the state
 * (census must therefore be cheap; v1 and v2 read running counters, O(1)) and never looks inside.
 */
import type { Refusal } from './notices.ts';
import type { ErrorCode } from './errors.ts';
import type { LoadedRelease } from './release.ts';
import { KeptHeap, heapInUse } from './upgrade/collect.ts';

export interface CeilingLimits {
  maxPosts: number;
  maxUsers: number;
  maxHeapMb: number;
  haltHeapMb: number;
}

type Counts = Readonly<Record<string, number>>;

const MB = 1024 * 1024;
/** Past the first mark, a collection at most this often, ms (inUse()). */
const COLLECT_EVERY_MS = 1_000;
const FULL: ErrorCode = 'E_FULL';

export class Ceiling {
  readonly #max: Record<string, number>;
  readonly #heapMb: number;
  readonly #haltMb: number;

  constructor(limits: CeilingLimits) {
    this.#max = { posts: limits.maxPosts, users: limits.maxUsers };
    this.#heapMb = limits.maxHeapMb;
    // never below the first mark (an operator who raised that alone would otherwise stop every read first)
    this.#haltMb = Math.max(limits.haltHeapMb, limits.maxHeapMb);
  }

  /**
   * The heap in use, MB, and the buffers outside it: read once a batch (heapMb()) and handed to batch()
   * and the kernel's reload. A typed array's bytes live outside V8's heap (`external_memory`): a
   * release that kept one of 16 MB a command in its module grew the process by that much a command
   * while the heap in use did not move: counted by the heap alone, it passed every mark unseen.
   */
  static heapMb(): number {
    return heapInUse() / MB;
  }

  /**
   * The heap in use for one batch, MB (heapMb()): past the first mark, what is kept, not the garbage
   * not yet collected that the heap counts too. Counted with it, writes were refused E_FULL, and the
   * release loaded again, whenever garbage alone took the heap past the mark (an upgrade's: a 1M-post
   * push on a 1 GB heap keeps 149 MB, and took the heap to within 70 MB of the mark). So a reading
   * past the mark collects and reads again (a full collection holds commands 0.3-0.8 s at 1M posts), at
   * most once a second; once a collection finds the heap still past the mark, the feed is full, and
   * none runs again until a reading is below it (KeptHeap). Nothing is masked: each batch reads the
   * heap anew.
   */
  inUse(): number {
    return this.#kept.read(this.#heapMb * MB).bytes / MB;
  }

  readonly #kept = new KeptHeap(COLLECT_EVERY_MS);

  /** Checks for one batch, at `usedMb` of heap (inUse()): each census is computed once. */
  batch(release: LoadedRelease, usedMb: number): CeilingCheck {
    const halt: Refusal | null = usedMb > this.#haltMb
      ? { code: FULL, message: `the server is nearly out of memory (heap and buffers ${Math.round(usedMb)} MB, past ${this.#haltMb} MB): no command of the feed runs until memory is freed; nothing changed` }
      : null;
    return new CeilingCheck(release, this.#max, usedMb > this.#heapMb ? { usedMb, markMb: this.#heapMb } : null, halt);
  }
}

export class CeilingCheck {
  #state: unknown = undefined;
  #counts: Counts | null = null;

  constructor(
    private readonly release: LoadedRelease,
    private readonly max: Readonly<Record<string, number>>,
    private readonly heap: { usedMb: number; markMb: number } | null,
    /** Past the second mark: the refusal every feed command gets, without running. */
    readonly halt: Refusal | null,
  ) {}

  /** The refusal for a command that took the state from `before` to `after`, or null when it may stand. */
  check(before: unknown, after: unknown): Refusal | null {
    if (after === before) return null;
    const was = this.#census(before);
    const now = this.#census(after);
    if (was === null || now === null) return null; // a census that fails is the upgrade checks' concern, not a reason to stop the feed
    let freed = false;
    for (const [kind, n] of Object.entries(now)) {
      if (typeof n !== 'number') continue;
      const had = was[kind] ?? 0;
      if (n < had) freed = true;
      if (n <= had) continue;
      const max = this.max[kind];
      if (max !== undefined && n > max)
        return { code: FULL, message: `the feed holds its maximum of ${max.toLocaleString('en')} ${kind}; nothing more can be added until some are deleted or the operator raises the ceiling` };
      if (this.heap) return this.#atMark('nothing new can be added');
    }
    // past the mark a change that frees nothing may still grow the state where the census does not look
    if (this.heap && !freed) return this.#atMark('only reading and deleting are served');
    return null;
  }

  #atMark(what: string): Refusal {
    return { code: FULL, message: `the server is at its memory ceiling (heap and buffers ${Math.round(this.heap!.usedMb)} MB, high-water mark ${this.heap!.markMb} MB): ${what} until memory is freed` };
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
