/**
 * How late the event loop runs while an upgrade works beside the feed: a timer every few ms notes how
 * much later than asked it fired, and stop() counts the time since its last firing too, so a block at
 * the very end is not missed (perf_hooks' monitorEventLoopDelay records only when its timer fires).
 */
import { PerformanceObserver, constants, createHistogram, type PerformanceEntry, type RecordableHistogram } from 'node:perf_hooks';

const EVERY_MS = 5;

export class LoopLag {
  readonly #histogram: RecordableHistogram = createHistogram();
  #last = 0;
  #timer: NodeJS.Timeout | null = null;

  start(): void {
    if (this.#timer) return;
    this.#last = performance.now();
    this.#timer = setInterval(() => this.#note(), EVERY_MS);
    this.#timer.unref();
  }

  /** Stop, and give the p99 and the longest lateness, ms. */
  stop(): { p99: number; max: number } {
    if (this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
      this.#note();
    }
    const h = this.#histogram;
    if (h.count === 0) return { p99: 0, max: 0 };
    return { p99: Math.round(h.percentile(99) / 10) / 100, max: Math.round(h.max / 10) / 100 };
  }

  #note(): void {
    const now = performance.now();
    // in microseconds (a histogram records integers, at least 1)
    this.#histogram.record(Math.max(1, Math.round((now - this.#last - EVERY_MS) * 1000)));
    this.#last = now;
  }
}

/**
 * The pauses V8's collector made on this thread while an upgrade ran, as it reports them (perf_hooks
 * `gc` entries): every young collection (scavenge), the start of each full one's marking and the
 * atomic pause that ends it. The marking steps a full collection interleaves with the program in
 * between are not reported one by one, so they are not in here: they show as a loop that turns slowly.
 */
export class GcPauses {
  #observer: PerformanceObserver | null = null;
  #pauses = 0;
  #ms = 0;
  #longest = 0;
  #full = 0;

  start(): void {
    if (this.#observer) return;
    this.#observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.#note(entry);
    });
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  /** Stop, and give the count, the sum and the longest of the pauses (ms), and the full collections. */
  stop(): { pauses: number; ms: number; longestMs: number; full: number } {
    if (this.#observer) {
      // entries V8 reported but the observer has not been handed yet count too
      for (const entry of this.#observer.takeRecords()) this.#note(entry);
      this.#observer.disconnect();
      this.#observer = null;
    }
    return { pauses: this.#pauses, ms: Math.round(this.#ms * 100) / 100, longestMs: Math.round(this.#longest * 100) / 100, full: this.#full };
  }

  #note(entry: PerformanceEntry): void {
    const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    this.#pauses++;
    this.#ms += entry.duration;
    if (entry.duration > this.#longest) this.#longest = entry.duration;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.#full++;
  }
}
