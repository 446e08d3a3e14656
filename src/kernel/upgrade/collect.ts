/**
 * A full collection, for the memory guards (orchestrate.ts, ceiling.ts): what a process keeps, without
 * the garbage not yet collected that its heap statistics count too. V8 gives `gc` to contexts made while
 * its --expose-gc flag is on; the flag is on only while the one context it is taken from is made, so no
 * other context (a release's) has it.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export const collect = ((): (() => void) => {
  v8.setFlagsFromString('--expose-gc');
  try {
    return vm.runInNewContext('gc') as () => void;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
})();

/** The heap in use with the buffers outside it (a typed array's bytes: memwatch.ts), bytes. */
export function heapInUse(): number {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

/**
 * Readings of the heap in use that, past a mark, count what is kept: a reading past it collects and
 * reads again (a full collection holds the process 0.3-0.8 s at 1M posts), at most once every
 * `everyMs`, and not again once a collection found the heap still past (until a reading is below).
 * `collected` says whether this reading is one taken after a collection.
 */
export class KeptHeap {
  #collectedAt = -Infinity;
  #armed = true;

  constructor(readonly everyMs: number) {}

  read(mark: number): { bytes: number; collected: boolean } {
    const bytes = heapInUse();
    if (bytes <= mark) {
      this.#armed = true;
      return { bytes, collected: false };
    }
    const now = performance.now();
    if (!this.#armed || now - this.#collectedAt < this.everyMs) return { bytes, collected: false };
    collect();
    this.#collectedAt = now;
    const kept = heapInUse();
    this.#armed = kept <= mark;
    return { bytes: kept, collected: true };
  }
}
