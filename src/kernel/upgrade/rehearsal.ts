/**
 * The rehearsal process, seen from the live one: a child process that keeps a mirror of the live state
 * and runs release code over the whole of it first (loading a release, every migration step, validate,
 * census, sample, the checks), so that whatever that code does (throw, loop, allocate until V8 aborts,
 * leave an async continuation spinning) happens there. The live process follows only where the
 * rehearsal went through, and the pipeline is deterministic for pure code (the same input, the same
 * time given to both), so it builds the same state without surprises. Release code can keep module
 * state and so behave otherwise here than there: what the live process commits it checks for plain
 * data itself (orchestrate.ts, walked.ts).
 *
 *   live process                                   rehearsal process (child.ts)
 *   sync(state)  ── full sync, then patches ──▶     mirror of the live state
 *   call(op)     ── {id, op, ...} ──────────▶       load / begin / slice / first / catchup / end
 *                ◀── {id, ok, data | error} ──
 *
 * A call that fails in the child is a refusal with the child's error; a child that dies (out of
 * memory, say) or stops answering within its deadline is killed, and the call fails with
 * E_REHEARSAL naming what happened. The next upgrade starts a fresh child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { MoltError, die } from '../errors.ts';
import { OVER_MEMORY } from './memwatch.ts';
import { FullSync, diff, type Patch } from './mirror.ts';

/**
 * The rehearsal's young generation: it builds a whole new state, and nearly everything it allocates
 * survives, so a larger semi-space means fewer scavenges copying the same objects (measured at 1M posts:
 * 64 MB took a push from 2.7-3.0 s to 2.3-2.4 s). A sixteenth of its heap, at most 64 MB.
 */
function semiSpaceMb(heapMb: number): number {
  return Math.max(1, Math.min(64, Math.round(heapMb / 16)));
}

export interface RehearsalOptions {
  /** The child's V8 heap limit, MB. */
  heapMb: number;
  /** Bytes per message of a full sync. */
  chunkBytes?: number;
  /** The child's nice value: it works hard while the live process serves, and should yield to it. */
  nice?: number;
  log?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void };
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  op: string;
  /** The child asked: only its own death fails this call. */
  child: ChildProcess;
}

/** What the child says about itself, and what it costs. */
export interface ChildStats {
  heapUsedMb: number;
  heapLimitMb: number;
  peakHeapMb: number;
}

/**
 * A process's threads. On Linux a nice value is a thread's: one set on the process once it runs
 * leaves the threads it already started (V8's collector and compiler helpers) where they were.
 */
function threadsOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number).filter((t) => t > 0);
  } catch {
    return [pid];
  }
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** Yield to the event loop: commands and sockets get their turn between slices. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Rehearsal {
  readonly #options: RehearsalOptions;
  #child: ChildProcess | null = null;
  #ready: Promise<void> | null = null;
  #packr = new Packr({ useRecords: true, sequential: true, mapsAsObjects: true } as never);
  #next = 1;
  readonly #pending = new Map<number, Pending>();
  /** The state the child mirrors (null: it mirrors nothing yet). */
  #synced: unknown = null;
  #hasMirror = false;
  #stderr = '';
  #died: string | null = null;
  /** CPU ms the children have used, as their answers said (a total over every child started). */
  #cpuMs = 0;
  /** What the running child had used at its last answer. */
  #childCpuMs = 0;
  /** Serializes syncs and calls: one conversation with the child at a time. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RehearsalOptions) {
    this.#options = options;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /**
   * CPU milliseconds the rehearsal processes have used since this object was made, as of the last
   * answer (all of a child's threads, its start included). The difference of two readings is what the
   * calls between them cost.
   */
  get cpuMs(): number {
    return this.#cpuMs;
  }

  /** Start the child if it is not running (never again once closed). */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new MoltError('E_SHUTTING_DOWN', 'the server is stopping: no rehearsal starts'));
    if (this.#ready) return this.#ready;
    this.#died = null;
    this.#stderr = '';
    this.#packr = new Packr({ useRecords: true, sequential: true, mapsAsObjects: true } as never);
    this.#hasMirror = false;
    this.#synced = null;
    this.#childCpuMs = 0;
    const child = fork(CHILD, [], {
      execArgv: ['--import', TSX, `--max-old-space-size=${Math.max(32, Math.round(this.#options.heapMb))}`, '--stack-size=984', `--max-semi-space-size=${semiSpaceMb(this.#options.heapMb)}`, ...(process.env['MOLT_CHILD_PROF'] ? ['--cpu-prof', '--cpu-prof-dir=' + process.env['MOLT_CHILD_PROF']] : [])],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.#child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-4000);
    });
    child.on('message', (msg: { id: number; ok: boolean; data?: unknown; error?: { code: string; message: string }; cpuMs?: number }) => {
      if (this.#child === child && typeof msg.cpuMs === 'number' && msg.cpuMs > this.#childCpuMs) {
        this.#cpuMs += msg.cpuMs - this.#childCpuMs;
        this.#childCpuMs = msg.cpuMs;
      }
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.data);
      else p.reject(new MoltError((msg.error?.code ?? 'E_REHEARSAL') as never, String(msg.error?.message ?? 'the rehearsal failed')));
    });
    child.on('exit', (code, signal) => {
      const oom = /heap out of memory|Reached heap limit|allocation failed/i.test(this.#stderr);
      const over = new RegExp(`${OVER_MEMORY}: (\\d+) MB, past (\\d+) MB`).exec(this.#stderr);
      this.#died = over
        ? `ran out of memory (its resident memory reached ${over[1]} MB, past its ${over[2]} MB: memory outside its heap, such as typed arrays, that the release allocated and kept)`
        : oom
        ? `ran out of memory (its heap is limited to ${this.#options.heapMb} MB)`
        : `exited (${signal ?? `code ${code}`})${this.#stderr.trim() ? `: ${this.#stderr.trim().split('\n').slice(-3).join(' ').slice(0, 300)}` : ''}`;
      if (this.#child === child) {
        this.#child = null;
        this.#ready = null;
        this.#hasMirror = false;
        this.#synced = null;
      }
      for (const [id, p] of this.#pending) {
        if (p.child !== child) continue;
        clearTimeout(p.timer);
        p.reject(new MoltError('E_REHEARSAL', `the rehearsal process ${this.#died} during ${p.op}; nothing changed`));
        this.#pending.delete(id);
      }
    });
    child.on('error', () => {});
    // Two cores shared by the feed, its clients and a rehearsal that maps every entity: the rehearsal
    // is the one that can wait. But only once it is up: its start (about a CPU-second, compiling and
    // locking down) at nice 10 beside three busy processes took 9.6 s instead of 1.5, and on a machine
    // busier still passed the 30 s it has to say hello, refusing every upgrade (E_REHEARSAL).
    // (Raising a nice value needs no privilege; where it fails, it just runs.)
    this.#ready = this.#send('hello', {}, 30_000).then(() => {
      if (!this.#options.nice || child.pid === undefined || this.#child !== child) return;
      try {
        for (const thread of threadsOf(child.pid)) setPriority(thread, this.#options.nice);
      } catch (err) {
        this.#options.log?.warn({ err: String(err) }, 'the rehearsal keeps its priority');
      }
    });
    return this.#ready;
  }

  /**
   * For good: kill the child, and start none again. A sync or a call still queued (the mirror's
   * adoption of a state just committed, say) fails instead of starting a child the process would wait
   * for on its way out.
   */
  close(): void {
    this.#closed = true;
    this.stop();
  }

  #closed = false;

  /** Kill the child (it is restarted on the next use). */
  stop(): void {
    const child = this.#child;
    this.#child = null;
    this.#ready = null;
    this.#hasMirror = false;
    this.#synced = null;
    // profiling (MOLT_CHILD_PROF): let it exit, so it writes its profile
    if (process.env['MOLT_CHILD_PROF'] && child?.connected) child.disconnect();
    else child?.kill('SIGKILL');
  }

  /** Why the last child died, if it did. */
  get died(): string | null {
    return this.#died;
  }

  #send(op: string, args: Record<string, unknown>, deadlineMs: number): Promise<unknown> {
    const child = this.#child;
    if (!child || !child.connected) return Promise.reject(new MoltError('E_REHEARSAL', `the rehearsal process is not running${this.#died ? ` (it ${this.#died})` : ''}; nothing changed`));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new MoltError('E_REHEARSAL', `the rehearsal process did not answer ${op} within ${Math.round(deadlineMs / 1000)} s (still running release code?); it was stopped and nothing changed`, { timedOut: true }));
        this.stop();
      }, deadlineMs);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer, op, child });
      child.send({ id, op, ...args }, (err) => {
        if (err && this.#pending.has(id)) {
          this.#pending.delete(id);
          clearTimeout(timer);
          reject(new MoltError('E_REHEARSAL', `could not reach the rehearsal process: ${err.message}`));
        }
      });
    });
  }

  /** One call into the child, after any sync or call already under way. */
  call<T = unknown>(op: string, args: Record<string, unknown> = {}, deadlineMs = 60_000): Promise<T> {
    const run = this.#queue.then(
      () => this.start().then(() => this.#send(op, args, deadlineMs)),
      () => this.start().then(() => this.#send(op, args, deadlineMs)),
    );
    this.#queue = run.catch(() => undefined);
    return run as Promise<T>;
  }

  /**
   * Bring the child's mirror up to `state`: a full sync in slices the first time (yielding between
   * them, so the feed keeps serving), then only the patches since the last sync. Returns the patches
   * sent (0 when nothing changed).
   */
  sync(state: unknown, budgetBytes = 256 * 1024, stop?: () => void): Promise<number> {
    const run = this.#queue.then(
      () => this.#sync(state, budgetBytes, stop),
      () => this.#sync(state, budgetBytes, stop),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** `stop` is called between the batches of a full sync, and ends it by throwing (an abort, a limit). */
  async #sync(state: unknown, budgetBytes: number, stop?: () => void): Promise<number> {
    await this.start();
    if (this.#hasMirror && this.#synced === state) return 0;
    if (!this.#hasMirror) {
      const full = new FullSync(state, this.#options.chunkBytes ?? 64 * 1024);
      await this.#send('sync', { full: 'begin' }, 30_000);
      let n = 0;
      for (let batch = full.next(budgetBytes); batch !== null; batch = full.next(budgetBytes)) {
        n += batch.length;
        // not awaited one by one: the child builds while the next batch is packed
        void this.#send('sync', { full: 'chunk', bytes: this.#pack(batch) }, 120_000).catch(() => undefined);
        await tick();
        // a state that is large when read as a tree (one shared many times over) took minutes here,
        // with every other upgrade refused as busy and the operator's abort unheard
        stop?.();
      }
      await this.#send('sync', { full: 'end' }, 120_000);
      this.#synced = state;
      this.#hasMirror = true;
      return n;
    }
    const patches: Patch[] = diff(this.#synced, state);
    if (patches.length > 0) await this.#send('sync', { bytes: this.#pack(patches) }, 60_000);
    this.#synced = state;
    return patches.length;
  }

  /**
   * msgpack encodes a value by recursion: a state nested deeper than the stack allows cannot be copied
   * (the plain-data walk bounds nesting where it walks, but not under a subtree shared with the state
   * before: a handler that puts the state it was given under a new root grows it a level a command).
   */
  #pack(value: unknown): Buffer {
    try {
      return this.#packr.pack(value);
    } catch (err) {
      if (err instanceof RangeError && /call stack/i.test(err.message))
        die('E_INTERNAL', 'the live state is nested too deeply to copy to the rehearsal (encoding it overflowed the stack); nothing changed. A handler that puts an older part of the state under a new node each time grows it one level a command');
      throw err;
    }
  }

  /** The live state moved where a patch would be the whole state: the next sync is a full one. */
  forget(): void {
    this.#queue = this.#queue.then(() => {
      this.#hasMirror = false;
      this.#synced = null;
    });
  }

  /** After a commit: the child mirrors the state its own pipeline built (the very same as `state`). */
  adopt(state: unknown): Promise<void> {
    const run = this.#queue.then(async () => {
      await this.#send('adopt', {}, 30_000);
      this.#synced = state;
      this.#hasMirror = true;
    });
    this.#queue = run.catch(() => {
      // the child could not: it no longer mirrors anything, and the next sync is a full one
      this.#hasMirror = false;
      this.#synced = null;
    });
    return run;
  }

  /** The child's heap now and at its peak. */
  stats(): Promise<ChildStats> {
    return this.call<ChildStats>('stats', {}, 10_000);
  }

  /** Refuse with the child's error, or die() if this is not a MoltError. */
  static rethrow(err: unknown): never {
    if (err instanceof MoltError) throw err;
    die('E_REHEARSAL', `the rehearsal failed: ${String((err as Error)?.message ?? err)}`);
  }
}
