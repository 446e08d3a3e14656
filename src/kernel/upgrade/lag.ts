/**
 * How late the event loop runs while an upgrade works beside the feed: a timer every few ms notes how
 * much later than asked it fired, and stop() counts the time since its last firing too, so a block at
 * the very end is not missed (perf_hooks' monitorEventLoopDelay records only when its timer fires).
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

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
