/**
 * The rehearsal's memory outside its heap. `--max-old-space-size` bounds V8's heap, and a release
 * that fills it ends the rehearsal, not the feed. The bytes of a typed array live outside that heap,
 * though, and nothing in V8 bounds them: a migration that kept `new Float64Array(2 ** 24).fill(1)`
 * per entity grew the rehearsal's resident memory by 128 MB a call, past its heap limit, for as long
 * as its 30 s allowed, and beyond the machine's memory the kernel's out-of-memory killer picks a
 * process to end, which may be the feed's.
 *
 * So the rehearsal (which can die: that is what it is for) watches itself from a thread of its own,
 * since its main thread is inside release code when it matters: past `limitMb` of resident memory it
 * says so on stderr (the live process reads that as "ran out of memory") and ends at once. It also
 * asks the kernel's out-of-memory killer to take it first (`oom_score_adj`; raising it needs no
 * privilege), should the machine run short before the watch sees it.
 */
import { writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** What the watch writes before it ends the process: rehearsal.ts recognises it. */
export const OVER_MEMORY = 'molt rehearsal: resident memory past its limit';

/** How often the watch reads the resident size, ms (allocation measured here: 128 MB in 0.3-0.5 s). */
const EVERY_MS = 10;

const WATCH = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const limit = workerData.limitMb * 2 ** 20;
setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss <= limit) return;
  try { writeSync(2, workerData.say + ': ' + Math.round(rss / 2 ** 20) + ' MB, past ' + workerData.limitMb + ' MB\\n'); } catch {}
  process.kill(process.pid, 'SIGKILL');
}, ${EVERY_MS});
`;

/** Watch this process's resident memory from a thread: past `limitMb`, say so and end. */
export function watchMemory(limitMb: number): void {
  try {
    writeFileSync('/proc/self/oom_score_adj', '1000');
  } catch {
    // not Linux, or not allowed: the watch below still holds
  }
  const worker = new Worker(WATCH, { eval: true, workerData: { limitMb: Math.round(limitMb), say: OVER_MEMORY } });
  worker.unref();
}
