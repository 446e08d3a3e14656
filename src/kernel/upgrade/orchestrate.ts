/**
 * One upgrade (a push or a rollback), online: the new state is built beside the live one while the feed
 * keeps serving, and only the cut-over pauses commands.
 *
 *   load       the release is loaded in the rehearsal process first, then here
 *   rehearse   the rehearsal runs the first pass of every step over its mirror of the live state,
 *   migrate    and the live process follows one slice behind: the same pipeline over the same frozen
 *              snapshot (slices yield to the event loop; a pace can slow them down), each slice
 *              walking what it built for plain data: here too, as release code may behave otherwise
 *              here than there
 *   validate   the rehearsal checks the new state: plain data, validate(), the census invariants, the
 *              sample; what comes back is bounded in size. What the two processes built is compared
 *              (digest.ts, and the whole state node by node: tree.ts) here, after every catch-up round
 *              and in the cut-over: E_DIVERGED
 *   catch-up   rounds that re-migrate only what commands changed meanwhile (node identity), first in the
 *              rehearsal, then here, until what is left is small
 *   held       (--hold) kept caught up until `molt cutover` or `molt abort`
 *   cutover    commands wait: the last changes are caught up, rehearsed, checked (none: nothing to do)
 *   ────────── point of no return: everything that can fail has happened above ──────────
 *   commit     cell = {target, new state}: one assignment; the queue drains through the new version
 *
 * A failure anywhere above the line (a slice throws or loops, the rehearsal dies, a check fails, the
 * operator aborts, SIGTERM, a limit passes) discards the new state and changes nothing. A dry run does
 * everything in the rehearsal and stops before the cut-over; the live process builds nothing.
 * A whole-state step cannot be caught up: it runs in the cut-over, rehearsed first, and the report says
 * the feed paused for it.
 */
import v8 from 'node:v8';
import type { Shape } from '../../contract.ts';
import { MoltError, die } from '../errors.ts';
import type { Limits } from '../limits.ts';
import { Pipeline, plan, type Plan } from '../migrate/pipeline.ts';
import { MAX_READ, directionOf } from '../migrate/runner.ts';
import { PlainWalk, checkPlain } from '../plain.ts';
import { Walked, checkCaught, checkEntities, walkSlice } from '../migrate/walked.ts';
import { Digests, BLOCK, compareCaught, streamOf, streamParts, type Stream } from '../migrate/digest.ts';
import { TreeDigest, treeDiffers, type Tree } from '../migrate/tree.ts';
import { liveCensus } from '../migrate/verify.ts';
import { loadRelease, type LoadedRelease, type ReleaseSource } from '../release.ts';
import { describeThrown } from '../sandbox.ts';
import { GcPauses, LoopLag } from './lag.ts';
import { KeptHeap, collect } from './collect.ts';
import { Rehearsal, tick } from './rehearsal.ts';
import type { UpgradeProgress, UpgradeReport } from './report.ts';
import type { Served } from '../journal.ts';
import { Replay, type ReversibleWindow } from './window.ts';
import { Packr } from 'msgpackr';

const plainPackr = new Packr({ useRecords: false, mapsAsObjects: true } as never);

/** Refusals where the migration itself broke on the state (a rollback then says what else there is). */
const MIGRATION_FAILED = new Set(['E_MIGRATION_THREW', 'E_MIGRATION_TIMEOUT', 'E_MIGRATION_CONTRACT', 'E_VALIDATE', 'E_INVARIANT', 'E_UNDECLARED', 'E_DIVERGED']);

/** How fast a migration may go: entities per second, or a share of one CPU (0 < share <= 1). */
export type Pace = { perSecond: number } | { share: number };

export interface UpgradeRequest {
  kind: 'push' | 'rollback';
  /** The release to push (push only). */
  source?: ReleaseSource;
  dryRun?: boolean;
  /** Migrate and keep caught up, then wait for cutover() or abort(). */
  hold?: boolean;
  pace?: Pace | null;
  /** The release the operator expects to replace: anything else running refuses with E_CONFLICT. */
  expect?: string;
  /** Leave a running release whose census() or sample() breaks; the report lists what was skipped. */
  force?: boolean;
  /** Losses the operator accepts, per kind, as the dry run showed them: dropping more refuses. */
  acceptDrops?: Record<string, number>;
  /** A rollback: replay the reversible window even though every step has down. */
  replay?: boolean;
}

/** What an upgrade needs from the kernel: narrow on purpose. */
export interface UpgradeHost {
  readonly limits: Limits;
  readonly rehearsal: Rehearsal;
  clock(): number;
  current(): { release: LoadedRelease; state: unknown };
  /** The source of the release before the current one (rollback), or null. */
  previous(): ReleaseSource | null;
  /** Broadcast an upgrade frame to every connection. */
  announce(phase: string, detail: Record<string, unknown> | undefined, ms: number | undefined, head: { upgrade: string; dryRun: boolean; direction: 'up' | 'down'; from: { version: number; release: string }; to: { version: number; release: string } }): void;
  /** Stop serving commands (they wait in the queue), and start again. */
  hold(): void;
  resume(): void;
  queued(): number;
  /** The last commands accepted, as they ran (for the shadow run). */
  recent(): readonly Served[];
  /** Past the point of no return: swap the cell, announce, drain. Must not fail. `previous` is the state
   *  the upgrade replaced (kept for the reversible window). */
  commit(target: LoadedRelease, state: unknown, report: UpgradeReport, previous: unknown): void;
  /** The reversible window of the last upgrade, if it is still open. */
  window(): ReversibleWindow | null;
  log(phase: string, extra: Record<string, unknown>): void;
}

/** What the rehearsal's check of a whole new state answers (child.ts, `check`). */
type Checked = { mappedMs: number; census: { before: Record<string, number>; after: Record<string, number> }; dropped: Record<string, number>; sample: UpgradeReport['sample']; changed?: Record<string, string[]>; validateMs: number; heapMb: number; skipped: string[]; compared: Record<string, number> | null; digests: Record<string, Stream> | null; tree: Tree | null };

/**
 * The memory guard's readings after a collection in the rehearsal, MB (its heap when the pass began and
 * when the current step began), and its last projection from them, bytes, made when the step had mapped
 * `done` entities.
 */
interface Kept {
  measure(): Promise<number>;
  baseMb: number;
  stepMb: number;
  done: number;
  projected: number;
}
/**
 * The room is tight, and the memory guard measures what the new state keeps (after collections in the
 * rehearsal, each ~0.3 s of its CPU at 1M posts) rather than what its heap grew by, when the room below
 * the mark is less than this many times the heap in use: a new state keeps about as much as the state
 * or less, and the rehearsal's growth, garbage and all, measured up to seven times what it kept.
 */
const TIGHT_ROOM = 4;

const MIN_SLICE = 32;
const MAX_SLICE = MAX_READ;
/** What one slice of the live process aims to take, ms: well under a frame of latency. */
const SLICE_TARGET_MS = 4;
/** Entries the tree digest (tree.ts) takes in its first run before it yields (then sized by time). */
const TREE_SLICE = 4_000;

/**
 * The size of the next slice after one of `n` that took `took` ms: toward SLICE_TARGET_MS, within
 * [min, max], and at most double (one quick slice, with no GC in it, must not make the next one long).
 */
function nextSlice(n: number, took: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, 2 * n, Math.round((n * SLICE_TARGET_MS) / Math.max(took, 0.1))));
}
/**
 * A call into release code here may take at most LIVE_FACTOR times what the rehearsal took for as much
 * work, and never less than LIVE_FLOOR_MS (a full collection of a 1M-post heap can pause any call for
 * hundreds of ms): a slice (its mapping, and the checks and digest of what it built, which run inside
 * it), its entities at the rehearsal's slowest rates an entity so far, mapping and checking; a
 * step's finish (or start), the rehearsal's longest call; a catch-up round, the rehearsal's round.
 * Bounded only by the migration's own limit, a release slow here alone (it can tell the processes
 * apart) held the feed 11.5 s in one slice, then 5.7 s in each of three more, and committed; and one
 * slow in every call in both processes holds the feed as long as a call of the rehearsal's takes.
 */
const LIVE_FACTOR = 3;
const LIVE_FLOOR_MS = 2_000;
/** Progress frames at most this often, ms. */
const PROGRESS_EVERY_MS = 200;
/** Entities per slice of the rehearsal's first pass (it blocks nobody: big slices, few messages). */
const CHILD_SLICE = MAX_READ;
const FIRST_CHILD_SLICE = 1_024;
/** A catch-up round that re-migrated at most this many entities is small enough to cut over after. */
const SMALL_ROUND = 256;
const MAX_ROUNDS = 20;
/** While held, catch up this often, ms. */
const HOLD_ROUND_MS = 1000;
/** A window rollback catches up with the writes made meanwhile for at most this long, ms, then cuts over. */
const WINDOW_CATCH_UP_MS = 5_000;
/**
 * Commands first: between two slices the migration waits while commands wait, but not longer than
 * this, ms (so on a feed that keeps the kernel busy it still moves, at a slice every this often).
 */
const YIELD_MAX_MS = 100;

export class UpgradeRun {
  readonly id: string;
  readonly report: UpgradeReport;
  readonly #host: UpgradeHost;
  readonly #req: UpgradeRequest;
  readonly #started = performance.now();
  /** CPU used so far, here and in the rehearsal, when this upgrade began. */
  readonly #cpu0: { live: NodeJS.CpuUsage; rehearsal: number };
  #phase = 'begin';
  #abort: MoltError | null = null;
  #cutover: (() => void) | null = null;
  #wake: (() => void) | null = null;
  #held = false;
  /** What status shows while #phase stays where a refusal would say it stopped: catch-up, shadow. */
  #doing: 'catch-up' | 'shadow' | null = null;
  #progress: UpgradeProgress['progress'] = { kinds: {}, done: 0, total: 0, rate: 0, etaMs: null, round: 0 };
  #lastProgress = 0;
  /** Under a pace in a share of the CPU: the entities mapped so far and the ms their slices took. */
  #shared = { n: 0, ms: 0 };
  #peakHeap = 0;

  constructor(host: UpgradeHost, request: UpgradeRequest, id: string) {
    this.#host = host;
    this.#cpu0 = { live: process.cpuUsage(), rehearsal: host.rehearsal.cpuMs };
    this.#req = request;
    this.id = id;
    const { release } = host.current();
    const from = { version: release.version, release: release.hash };
    this.report = {
      upgrade: id, kind: request.kind, dryRun: request.dryRun ?? false, result: 'refused', from, to: from,
      // until the release loads: a rollback goes back, a push (most likely) forward
      direction: request.kind === 'rollback' ? 'down' : 'up', describe: '', steps: [], online: true, census: { before: {}, after: null }, migrated: 0,
      dropped: {}, pauseMs: 0, totalMs: 0, phases: {}, rounds: 0, cutoverEntities: 0, peakHeapMb: 0, loopDelayMs: { p99: 0, max: 0 }, cpuMs: { live: 0, rehearsal: 0 }, gc: { pauses: 0, ms: 0, longestMs: 0, full: 0 },
      rehearsalPeakHeapMb: null, sample: null, changed: {}, queued: 0, skipped: [], checked: null, shadow: null, casualties: [],
    };
  }

  /** Stop before the cut-over: the run refuses with E_ABORTED (or `code`), nothing changed. */
  abort(message = 'the operator aborted the upgrade', code: 'E_ABORTED' | 'E_SHUTTING_DOWN' = 'E_ABORTED'): boolean {
    if (this.#phase === 'commit' || this.#abort) return false;
    this.#abort = new MoltError(code, `${message} before its cut-over; nothing changed`);
    this.#wake?.();
    return true;
  }

  /** Whether an abort (the operator's, or a stop's) has ended this upgrade, or is ending it. */
  get aborting(): boolean {
    return this.#abort !== null;
  }

  /** Whether this upgrade waits for cutover() once migrated (push --hold). */
  get holds(): boolean {
    return this.#req.hold === true;
  }

  /** A held upgrade: cut over now. False when it is not held, or an abort came first (it wins). */
  cutover(): boolean {
    if (!this.#cutover || this.#abort) return false;
    this.#cutover();
    return true;
  }

  status(): UpgradeProgress {
    return {
      upgrade: this.id, kind: this.#req.kind, dryRun: this.report.dryRun, phase: this.#doing ?? this.#phase,
      from: this.report.from.version, to: this.report.to === this.report.from && this.#phase === 'begin' ? null : this.report.to.version,
      // the rate and the time left as of now, not as of the last slice (a paced one may sleep long)
      held: this.#held, progress: this.#phase === 'migrate' ? { ...this.#progress, ...this.#rate(this.#progress.done, this.#progress.total) } : this.#progress, startedMs: Math.round(performance.now() - this.#started),
    };
  }

  #check(): void {
    if (this.#abort) throw this.#abort;
    if (performance.now() - this.#started > this.#host.limits.upgradeTimeoutMs)
      die('E_MIGRATION_TIMEOUT', `the upgrade ran for more than ${(this.#host.limits.upgradeTimeoutMs / 1000).toLocaleString('en')} s in all; nothing changed`);
    const used = v8.getHeapStatistics();
    if (used.used_heap_size > this.#peakHeap) this.#peakHeap = used.used_heap_size;
    if (this.report.dryRun) return;
    // Past the mark, what is kept decides (the buffers outside the heap too), not the garbage not yet
    // collected that the heap counts too: refused on the heap as it stood, a push that a heap of 1 GB
    // had room for could fail the same way every time (and a feed in memory cannot restart with a larger
    // one without losing itself). One full collection a second at most (KeptHeap); between them, V8's
    // own collections come first, as they do before it runs out.
    const mark = used.heap_size_limit * (this.#host.limits.heapHighWaterPercent / 100);
    const kept = this.#kept.read(mark);
    if (kept.collected && kept.bytes > mark)
      die('E_MEMORY', `the live process's heap and buffers reached ${mb(kept.bytes)} of its ${mb(used.heap_size_limit)} heap limit while the new state was built beside the live one; nothing changed`);
  }

  readonly #kept = new KeptHeap(1_000);

  #announce(phase: string, detail?: Record<string, unknown>, ms?: number): void {
    const r = this.report;
    this.#host.announce(phase, detail, ms, { upgrade: r.upgrade, dryRun: r.dryRun, direction: r.direction, from: r.from, to: r.to });
  }

  /** The census before the migration, for the frames once it is counted (pages show it at once). */
  #before(): { before?: Record<string, number> } {
    // null when the running release's census() broke and the operator forced the upgrade past it
    const before = this.report.census.before as Record<string, number> | null;
    return before !== null && typeof before === 'object' && Object.keys(before).length ? { before } : {};
  }

  #setProgress(kinds: Record<string, { done: number; total: number }>, round: number, force = false): void {
    let done = 0;
    let total = 0;
    for (const k of Object.values(kinds)) {
      done += k.done;
      total += k.total;
    }
    this.#progress = { kinds, done, total, ...this.#rate(done, total), round };
    const now = performance.now();
    if (force || now - this.#lastProgress >= PROGRESS_EVERY_MS) {
      this.#lastProgress = now;
      this.#announce('migrate', { progress: this.#progress, steps: this.report.steps, dryRun: this.report.dryRun, ...this.#before() });
    }
  }

  #migrateStart = performance.now();

  /**
   * The rate since the migration began, and the time left at it: never faster than a pace in entities
   * a second (a paced pass maps a slice at full speed, then sleeps: measured at a slice's end, a pace of
   * 1 a second read as 1,944 a second, and 13 s left of seven hours).
   */
  #rate(done: number, total: number): { rate: number; etaMs: number | null } {
    const elapsed = (performance.now() - this.#migrateStart) / 1000;
    let rate = elapsed > 0 ? done / elapsed : 0;
    const perSecond = this.#perSecond();
    if (perSecond !== null) rate = Math.min(rate, perSecond);
    return { rate: Math.round(rate * 100) / 100, etaMs: rate > 0 ? Math.round(((total - done) / rate) * 1000) : null };
  }

  /**
   * The memory guard: the new state is built beside the live one. From what the rehearsal's heap grew by
   * for the entities it migrated so far, project what the whole pass needs, and refuse before this
   * process gets near its heap limit. The steps done count as they grew (`doneMb`); the current step's
   * growth (`stepMb`) is projected over its own entities. (Projected over the current step's alone, all
   * the growth of 1 -> 2 was multiplied by what 2 -> 3 had left: an honest push 1 -> 3 of 100k posts
   * was refused as needing 4.9 GB.) Against the room this process had below its mark when the pass
   * began (`heap0`): what it has built since is part of what is needed.
   *
   * What a heap grew by counts the garbage not yet collected too: for a push of 1M posts that keeps 149
   * MB, the rehearsal's growth projected 0.6-1.0 GB, and a server with a heap of 1 GB (Node's default
   * on a machine of 4 GB) was refused every push it had room for. Where the room is tight (`kept`), a
   * projection past it is measured again after a collection in the rehearsal (from a collection there
   * when the pass began and when each step began), and that decides: first once an eighth of the step
   * is mapped, then again each time it has mapped twice as many entities as at the last measure, while
   * that measure projected more than half the room (each is a full collection there: ~0.3 s of its CPU
   * at 1M posts).
   */
  async #guardMemory(kinds: Record<string, { done: number; total: number }>, doneMb: number, stepMb: number, heap0: v8.HeapInfo, kept: Kept | null): Promise<void> {
    if (this.report.dryRun) return;
    let done = 0;
    let total = 0;
    for (const k of Object.values(kinds)) {
      done += k.done;
      total += k.total;
    }
    if (done < Math.min(total, 1000)) return;
    const project = (stepsMb: number, grownMb: number) => (Math.max(0, stepsMb) + (Math.max(0, grownMb) * total) / Math.max(1, done)) * 2 ** 20;
    let projected = project(doneMb, stepMb);
    if (projected <= 0) return;
    const room = heap0.heap_size_limit * (this.#host.limits.heapHighWaterPercent / 100) - heap0.used_heap_size;
    if (projected > room && kept) {
      // an eighth of the step mapped before the first measure, so that it projects from many entities
      if (kept.done === 0 && done < total / 8) return;
      if (kept.done === 0 || (done >= 2 * kept.done && kept.projected > room / 2)) {
        const heapMb = await kept.measure();
        kept.done = done;
        kept.projected = project(kept.stepMb - kept.baseMb, heapMb - kept.stepMb);
      }
      projected = kept.projected;
    }
    if (projected > room)
      die('E_MEMORY', `the new state needs about ${mb(projected)} beside the live one (measured in the rehearsal${kept ? ', after a collection' : ''}), but this process had ${mb(Math.max(0, room))} below its heap limit of ${mb(heap0.heap_size_limit)} when the migration began; nothing changed. Start the server with a larger --max-old-space-size`);
  }

  /**
   * The other memory guard: this process builds what the rehearsal built, one slice behind it, so its
   * heap should grow by about what the rehearsal's did. A release that allocates only here (it can tell
   * the processes apart) was refused by the high-water mark alone, after half a minute of GC near the
   * limit with every write refused as full. Growing past twice the rehearsal's growth by more than half
   * the room this process had below its mark is refused at once (garbage not yet collected counts as
   * growth here, so the margin is wide).
   */
  #guardGrowth(heap0: v8.HeapInfo, rehearsalMb: number): void {
    const now = v8.getHeapStatistics();
    const mark = heap0.heap_size_limit * (this.#host.limits.heapHighWaterPercent / 100);
    const grown = now.used_heap_size + now.external_memory - (heap0.used_heap_size + heap0.external_memory);
    const slack = Math.max(0, mark - heap0.used_heap_size) / 2;
    if (grown > 2 * rehearsalMb * 2 ** 20 + slack)
      die('E_MEMORY', `the live process's heap and buffers grew by ${mb(grown)} while it built what grew the rehearsal's by ${mb(rehearsalMb * 2 ** 20)}: the release allocates here what it did not there (it tells the two processes apart?); nothing changed`);
  }

  /**
   * A pace in entities a second that could not migrate `total` entities within the upgrade's own time
   * limit is refused at once, before anything waits on it: at 1 a second, 25,000 posts took hours, held
   * every other push off with E_BUSY, and would only have been refused when the limit passed.
   */
  #paceFits(total: number): void {
    const perSecond = this.#perSecond();
    if (perSecond === null) return;
    const ms = (total / perSecond) * 1000;
    const limit = this.#host.limits.upgradeTimeoutMs;
    if (ms > limit)
      die('E_BAD_REQUEST', `a pace of ${figure(perSecond)} entities a second would take ${long(ms)} for these ${total.toLocaleString('en')}, past the upgrade's ${Math.round(limit / 1000)} s limit; nothing changed (at least ${Math.ceil((total * 1000) / limit).toLocaleString('en')} a second)`);
  }

  /** The pace in entities a second, if the operator set one. */
  #perSecond(): number | null {
    const pace = this.#req.pace;
    return pace && 'perSecond' in pace && pace.perSecond > 0 ? pace.perSecond : null;
  }

  /**
   * A pace in a share of the CPU says nothing of the time until the first slices have run: then the
   * entities left, at the time a slice took an entity so far, slowed to that share, must fit in twice
   * the upgrade's time left (the first slices run colder than the rest). Unchecked, `--pace 0.001%`
   * on 100k posts crawled for the whole 10 minutes, every other push refused with E_BUSY meanwhile.
   */
  #shareFits(n: number, ms: number, share: number): void {
    if (this.#phase !== 'migrate') return;
    this.#shared.n += n;
    this.#shared.ms += ms;
    if (this.#shared.n < MIN_SLICE) return;
    const left = Math.max(0, this.#progress.total - this.#progress.done);
    const full = (left * this.#shared.ms) / this.#shared.n;
    const limit = this.#host.limits.upgradeTimeoutMs;
    const remaining = limit - (performance.now() - this.#started);
    const takes = full / share;
    if (takes <= 2 * remaining) return;
    const needed = Math.min(100, Math.ceil((full / Math.max(1, remaining)) * 100));
    die('E_BAD_REQUEST', `a pace of ${figure(share * 100)}% of one CPU would take about ${long(takes)} for the ${left.toLocaleString('en')} entities left, past the upgrade's ${Math.round(limit / 1000)} s limit; nothing changed (at least ${needed}%)`);
  }

  /** Sleep as the pace asks after a slice of `n` entities that took `ms`, never past the upgrade's limit. */
  async #pace(n: number, ms: number): Promise<void> {
    const pace = this.#req.pace;
    const perSecond = this.#perSecond();
    let wait = 0;
    if (perSecond !== null) wait = (n / perSecond) * 1000 - ms;
    else if (pace && 'share' in pace && pace.share > 0 && pace.share < 1) {
      this.#shareFits(n, ms, pace.share);
      wait = ms * (1 / pace.share - 1);
    }
    // At most 10 s a sleep, so progress frames keep going out (PROTOCOL.md says that a smaller share
    // runs faster than it says). The limit is checked after the sleep, so no sleep runs past it (one
    // that did overshot it by up to 10 s).
    const left = this.#host.limits.upgradeTimeoutMs - (performance.now() - this.#started);
    if (wait >= 1) await this.#sleep(Math.max(1, Math.min(wait, 10_000, left + 1)));
    await this.#yield();
  }

  /**
   * Give the event loop a turn, and then more turns while commands wait in the kernel's queue (up to
   * YIELD_MAX_MS): the kernel serves them in short batches, a turn each, and a slice of the migration
   * between two batches would make them wait longer. When a major GC slows this process down, it is
   * the migration that slows, not the commands.
   */
  async #yield(): Promise<void> {
    const t0 = performance.now();
    do await tick();
    while (this.#host.queued() > 0 && !this.#abort && performance.now() - t0 < YIELD_MAX_MS);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }

  async run(): Promise<UpgradeReport> {
    this.#loop.start();
    this.#gc.start();
    const host = this.#host;
    const limits = host.limits;
    const report = this.report;
    const reh = host.rehearsal;
    const ms = limits.migrationTimeoutMs;
    const deadline = ms * 2 + 10_000;
    let held = false;
    let lap = performance.now();
    const phase = (name: keyof UpgradeReport['phases']) => {
      const now = performance.now();
      report.phases[name] = round((report.phases[name] ?? 0) + now - lap);
      lap = now;
    };
    try {
      // aborted before it started (by its id, its request still on its way)
      if (this.#abort) throw this.#abort;
      // ---- load: in the rehearsal first, then here ----
      const { release: current, state: s0 } = host.current();
      if (this.#req.expect !== undefined && this.#req.expect !== current.hash)
        die('E_CONFLICT', `expected release ${this.#req.expect.slice(0, 12)} to be running, but ${current.hash.slice(0, 12)} (v${current.version}) is: someone else changed it; check molt status and try again`);
      // a rollback replays the window when asked to (--replay), or when a step on the way back has no down
      const window = this.#req.kind === 'rollback' ? host.window() : null;
      if (window && this.#req.replay) return await this.#windowRollback(window);
      if (this.#req.replay) die('E_NO_PREVIOUS', 'no reversible window is open: the last upgrade is permanent (molt status shows the window)');
      const source = this.#req.kind === 'push' ? this.#req.source : host.previous();
      if (!source) die('E_NO_PREVIOUS', `version ${current.version} is the first release since boot; there is nothing to roll back to`);
      if (typeof source.code !== 'string') die('E_BAD_REQUEST', 'a release needs code (string) and view (string or null)');
      await reh.sync(s0, undefined, () => this.#check());
      this.#check();
      await reh.call('load', { source: current.source, hash: current.hash, loadTimeoutMs: limits.loadTimeoutMs }, deadline);
      const loaded = await reh.call<{ version: number; hash: string }>('load', { source, hash: source.hash, loadTimeoutMs: limits.loadTimeoutMs }, deadline);
      this.#check();
      const target = loadRelease(source, limits.loadTimeoutMs);
      if (target.hash !== loaded.hash) die('E_REHEARSAL', 'the rehearsal loaded a different release');
      report.to = { version: target.version, release: target.hash };
      // loaded: a refusal from here on (the same release, no way between the versions) stopped in `load`
      this.#phase = 'load';
      const planned: Plan | null = target.hash === current.hash
        ? die('E_SAME_VERSION', `release ${target.hash.slice(0, 12)} (v${target.version}) is already running`)
        : target.version === current.version ? { owner: target, steps: [], direction: 'up' } : this.#plan(current, target, window);
      if (planned === null) return await this.#windowRollback(window!);
      const p: Plan = planned;
      report.direction = p.direction;
      if (p.steps.length === 0) this.#sameVersion(current, target);
      report.steps = p.steps.map((s) => ({ step: s.label, describe: directionOf(s.migration, s.direction).describe }));
      report.describe = report.steps.length ? report.steps.map((s) => s.describe).join(' ') : `v${target.version} replaces v${current.version}: the same data, new code.`;
      phase('load');
      this.#phase = 'load';
      this.#announce('begin', { kind: report.kind, describe: report.describe, steps: report.steps, hold: this.#req.hold ?? false, pace: this.#req.pace ?? null, dryRun: report.dryRun }, report.phases.load);
      this.#announce('load', { steps: report.steps }, report.phases.load);
      host.log('begin', { kind: report.kind, dryRun: report.dryRun, from: report.from.version, to: report.to.version, release: report.to.release });
      host.log('load', { ms: report.phases.load, steps: report.steps.map((s) => s.step) });

      // The live process runs the steps with code of its own, fresh: the owner's module state is then
      // the rehearsal's (a release serving commands may have changed its own), so both build the same.
      const owner = p.owner === current ? loadRelease(current.source, limits.loadTimeoutMs) : p.owner;
      const byFrom = new Map(owner.migrations.map((m) => [m.from, m]));
      const fresh: Plan = { ...p, owner, steps: p.steps.map((s) => ({ ...s, migration: byFrom.get(s.migration.from)! })) };
      const shapes: Record<number, Shape | undefined> = { [current.version]: current.feed.shape, [target.version]: target.feed.shape };

      // ---- rehearse and migrate: the first pass, the live process one slice behind ----
      this.#phase = 'migrate';
      const now = host.clock();
      const begunAt = performance.now();
      const heapB = v8.getHeapStatistics();
      const tight = !report.dryRun && heapB.heap_size_limit * (limits.heapHighWaterPercent / 100) - heapB.used_heap_size < TIGHT_ROOM * heapB.used_heap_size;
      // the room too is what this process keeps: counted with the last upgrade's garbage, a push 1 -> 3
      // of 1M posts on a 1 GB heap, needing 289 MB, was refused for a room of 271 (commands wait for
      // this collection: 0.3-0.8 s at 1M posts, where the room is tight only)
      if (tight) collect();
      const begun = await reh.call<{ online: boolean; census: Record<string, number>; heapMb: number; progress: { kinds: Record<string, { done: number; total: number }> } }>(
        // liveChecks: this process builds the same state (online, not a dry run) and checks it in full;
        // retained: the rehearsal's heap is measured after a collection (the memory guard, tight room)
        'begin', { current: current.hash, target: target.hash, now, ms, censusMs: limits.handlerTimeoutMs, problemsShown: limits.problemsShown, force: this.#req.force === true, liveChecks: !report.dryRun, retained: tight }, deadline);
      report.online = begun.online;
      report.census.before = begun.census;
      this.#migrateStart = performance.now();
      this.#setProgress(begun.progress.kinds, 0, true);
      this.#paceFits(this.#progress.total);
      const live = !report.dryRun && begun.online ? new Pipeline(fresh, s0, now, { ms, shapes }) : null;
      const walked = live ? this.#walkSlices(live) : null;
      const check = (): Promise<Checked> => reh.call<Checked>('check', { now, sample: true }, deadline);
      // the rehearsal's check of the whole new state, once begun (see the first pass below)
      const checks: { whole: Promise<Checked> | null } = { whole: null };
      if (begun.online) {
        type Slice = { n: number; ms: number; position: number; checked: number; checkMs: number; mapped: boolean; heapMb: number; progress: { step: string | null; kinds: Record<string, { done: number; total: number }> } };
        // with a pace in entities a second, a slice holds at most what the pace allows between two
        // progress frames: progress moves in small steps instead of a few jumps and long sleeps
        const perSecond = this.#perSecond();
        const cap = perSecond !== null ? Math.max(MIN_SLICE, Math.round((perSecond * PROGRESS_EVERY_MS) / 1000)) : MAX_SLICE;
        const childHeap0 = begun.heapMb;
        // The rehearsal runs its first pass in big slices, checking what it maps as it goes; this process
        // follows in small ones, never past where the rehearsal has checked (the result does not depend on
        // where slices end, so only the position must agree).
        const child = { position: 0, checked: 0, mapped: false, kinds: begun.progress.kinds, grownMb: 0, longestMs: 0, perEntityMs: 0, checkMs: 0, step: null as string | null, stepHeapMb: childHeap0, error: null as unknown, wake: null as (() => void) | null };
        const heap0 = v8.getHeapStatistics();
        const measure = (): Promise<number> => reh.call<{ heapMb: number }>('retained', {}, deadline).then((r) => r.heapMb);
        const kept: Kept | null = tight ? { measure, baseMb: childHeap0, stepMb: childHeap0, done: 0, projected: 0 } : null;
        // small first slices, so this process starts following early (at 10k posts it waited for the
        // whole first pass: ~10% of the upgrade); then doubling up to big ones, few messages
        let childSlice = FIRST_CHILD_SLICE;
        const pump = (async () => {
          try {
            while (!child.mapped) {
              const step = await reh.call<Slice>('slice', { n: live ? childSlice : Math.min(cap, CHILD_SLICE), now }, deadline);
              childSlice = Math.min(CHILD_SLICE, childSlice * 2);
              child.longestMs = Math.max(child.longestMs, step.ms);
              child.perEntityMs = Math.max(child.perEntityMs, step.ms / Math.max(1, step.n));
              child.position = step.position;
              child.checked = step.checked;
              child.checkMs = step.checkMs;
              child.mapped = step.mapped;
              child.kinds = step.progress.kinds;
              child.grownMb = Math.max(child.grownMb, step.heapMb - childHeap0);
              // a step begun: what the rehearsal's heap holds now is the steps before it, built
              if (step.progress.step !== child.step) {
                if (child.step !== null) {
                  child.stepHeapMb = step.heapMb;
                  if (kept) Object.assign(kept, { stepMb: await measure(), done: 0 });
                }
                child.step = step.progress.step;
              }
              await this.#guardMemory(step.progress.kinds, child.stepHeapMb - childHeap0, step.heapMb - child.stepHeapMb, heap0, kept);
              child.wake?.();
              if (!live) {
                this.#setProgress(child.kinds, 0);
                await this.#pace(step.n, 0);
              }
              this.#check();
            }
            // The rehearsal is done mapping, and this process may still be following it (at 1M posts
            // ~0.5-1.4 s behind): the rehearsal checks the whole new state meanwhile, rather than after,
            // and a problem it finds stops this process's first pass at its next slice.
            checks.whole = check();
            checks.whole.catch((err: unknown) => {
              child.error ??= err;
              child.wake?.();
            });
          } catch (err) {
            child.error = err;
            child.wake?.();
          }
        })();
        let size = Math.min(256, cap);
        while (live && !live.mapped) {
          if (child.error) throw child.error;
          this.#check();
          // Up to where the rehearsal's checks have run, so that what they took is known: a slice here
          // checks and digests what it maps within its bound, and that costs by what the step built
          // (a post's text is digested character by character), not by its mapping. Bounded by the
          // mapping's rate alone, an honest step that added 1 MB to each of 300 posts' texts was refused
          // here after 2 s "where the rehearsal took 2 ms" (its checks of them took 2.2 s there).
          const room = child.mapped ? Infinity : child.checked - live.position;
          if (room <= 0) {
            await new Promise<void>((resolve) => (child.wake = resolve));
            child.wake = null;
            continue;
          }
          // The first slice, before this process has timed one of its own, is sized by the rehearsal's
          // rates (what it took to map and to check an entity): at 256 entities, 300 posts that a step
          // gave 1 MB of text each held the feed 3.6 s in that one slice; later slices are sized by
          // their own time (nextSlice)
          if (live.position === 0) size = Math.min(size, Math.max(MIN_SLICE, Math.round(SLICE_TARGET_MS / Math.max(child.perEntityMs + child.checkMs, 0.001))));
          const n = Math.min(size, room);
          const t0 = performance.now();
          live.now = now;
          this.#bounded(live, { whole: child.longestMs, slice: n * (child.perEntityMs + child.checkMs), n }, false, () => live.slice(n));
          const took = performance.now() - t0;
          size = nextSlice(n, took, MIN_SLICE, cap);
          this.#guardGrowth(heap0, child.grownMb);
          this.#setProgress(live.progress().kinds, 0);
          await this.#pace(n, took);
        }
        await pump;
        if (child.error) throw child.error;
        if (live && !live.mapped) die('E_REHEARSAL', 'the live process and the rehearsal disagree about where the migration is; nothing changed');
      }
      phase('migrate');
      this.#check();
      host.log('migrate', { ms: report.phases.migrate, online: report.online, entities: this.#progress.total });

      // ---- validate: the rehearsal checks the whole new state (begun already when online) ----
      this.#phase = 'validate';
      // This process checks and digests what it built while the rehearsal checks its own (at 1M posts
      // each takes a second or more): both are done before either's refusal is told, the rehearsal's first.
      const state1 = live?.result().state;
      const mine = live ? this.#checkBuilt(state1, s0, walked!.over()).then(() => this.#tree(state1)) : null;
      const [theirs, ours] = await Promise.allSettled([checks.whole ?? check(), mine]);
      if (theirs.status === 'rejected') throw theirs.reason;
      if (ours.status === 'rejected') throw ours.reason;
      const checked = theirs.value;
      // a whole-state step: how long the rehearsal took to run it and check what it built (it does so
      // again inside the pause, and this process runs it there too)
      const rehearsedMs = performance.now() - begunAt;
      report.census = checked.census;
      // after what this process skipped itself (a same-version check, in load), not over it
      report.skipped = [...report.skipped, ...checked.skipped];
      report.checked = checked.compared;
      report.dropped = checked.dropped;
      report.sample = checked.sample;
      report.changed = checked.changed ?? {};
      // (after the report has them: a refusal for drops says what it would drop)
      if (!report.dryRun) this.#acceptDrops(checked.dropped);
      report.migrated = report.steps.length ? Object.values(report.census.before).reduce((a, b) => a + b, 0) : 0;
      let validateMs = checked.validateMs;
      report.rehearsalPeakHeapMb = round((await reh.stats()).peakHeapMb);
      phase('validate');
      if (live) await this.#compare(live, s0, checked, false, ours.value!);
      phase('migrate');
      this.#announce('validate', { census: report.census.after, ...this.#before() }, report.phases.validate);
      host.log('validate', { census: report.census.after, online: report.online });
      // A whole-state step pauses the feed for the rehearsal's run and check on the final state and this
      // process's run: about twice what the rehearsal took the first time. Past the migration's limit
      // (or the cut-over's, if more), refused now, before any command waits (a dry run says so too).
      // One that returned 2,000 references to one array of 100,000 zeros (cheap to build, 2*10^8 slots
      // to walk in each process) paused the feed 48 s, and committed.
      const wholePauseMs = Math.max(limits.migrationTimeoutMs, limits.cutoverTimeoutMs);
      if (!begun.online && 2 * rehearsedMs > wholePauseMs)
        die('E_CUTOVER', `this whole-state step would pause the feed about ${seconds(2 * rehearsedMs)}: the rehearsal took ${seconds(rehearsedMs)} to run and check it, and at the cut-over it runs again there and here while every command waits; over the ${seconds(wholePauseMs)} a whole-state step may pause it (the migration's limit, or the cut-over's if more). Nothing changed (a step with per-entity functions runs online: ART.md)`);

      // ---- catch up with what commands changed meanwhile ----
      let rounds = 0;
      if (begun.online) {
        this.#doing = 'catch-up';
        for (; rounds < MAX_ROUNDS; rounds++) {
          this.#check();
          const { state } = host.current();
          // the changed entities are checked every round; the whole validate() again only where it is
          // quick, as at the cut-over (at 1M posts it is ~0.3 s a round, for entities already checked)
          const entities = await this.#catchUp(live, state, now, validateMs <= limits.cutoverValidateMs);
          if (entities === null) break;
          this.#announce('catch-up', { round: rounds + 1, entities });
          host.log('catch-up', { round: rounds + 1, entities });
          if (entities <= SMALL_ROUND) {
            rounds++;
            break;
          }
        }
        phase('catchUp');
      }
      report.rounds = rounds;

      // ---- shadow run: the last commands, through the new version on the migrated state ----
      this.#doing = 'shadow';
      const shadow = await reh.call<{ commands: number; replayed: number; notAccepted: Record<string, number>; differences: string[] }>(
        // (with the bounds on what a command sends and adds: the new version's outcomes are checked against them)
        'shadow', { bytes: plainPackr.pack(host.recent()), maxReplyBytes: limits.maxReplyBytes, maxEventBytes: limits.maxEventBytes, maxEventsBytes: limits.maxEventsBytes, maxEventsPerCommand: limits.maxEventsPerCommand, maxGrowthBytes: limits.maxGrowthBytes }, deadline);
      report.shadow = shadow;
      phase('shadow');
      host.log('shadow', { replayed: shadow.replayed, notAccepted: shadow.notAccepted, differences: shadow.differences.length });
      this.#doing = null;
      this.#check();

      if (report.dryRun) {
        report.result = 'dry-run';
        return this.#end('dry-run');
      }

      // ---- held: keep caught up until the operator says cut over ----
      if (this.#req.hold) {
        held = true;
        await this.#holdUntilCutover(async () => {
          if (!begun.online) return;
          const entities = await this.#catchUp(live, host.current().state, now, validateMs <= limits.cutoverValidateMs);
          if (entities === null) return;
          report.rounds = ++rounds;
          // every page watching sees a held upgrade keep up, as it saw the rounds before the hold
          this.#announce('catch-up', { round: rounds, entities });
          host.log('catch-up', { round: rounds, entities, held: true });
        }, {});
        phase('catchUp');
      }

      // ---- cut-over: commands wait while the last changes are caught up and checked ----
      this.#phase = 'cutover';
      this.#check();
      this.#announce('cutover', {});
      host.log('cutover', {});
      host.hold();
      const paused = performance.now();
      let final: unknown;
      const last = host.current().state;
      if (begun.online) {
        // the whole validate() runs again only if it is quick; the delta is checked either way
        const entities = await this.#catchUp(live, last, now, validateMs <= limits.cutoverValidateMs, paused);
        report.cutoverEntities = entities ?? 0;
        final = live!.result().state;
      } else {
        // a whole-state step: rehearsed on the final state, then run here, inside the pause. The
        // rehearsal's run and check may take three times what they took the first time, or the
        // cut-over's limit if that is more, at most the migration's: past that it is stopped (a
        // target's validate() slow only the second time held every command for as long as it ran).
        const rehearsalBound = Math.min(limits.migrationTimeoutMs, Math.max(limits.cutoverTimeoutMs, 3 * rehearsedMs));
        const left = () => Math.max(1, rehearsalBound - (performance.now() - paused));
        let again: typeof checked;
        try {
          await reh.sync(last);
          await reh.call('begin', { current: current.hash, target: target.hash, now, ms, problemsShown: limits.problemsShown, force: this.#req.force === true, digest: true }, left());
          again = await reh.call<typeof checked>('check', { now, sample: true }, left());
        } catch (err) {
          if (!timedOut(err)) throw err;
          die('E_CUTOVER', `the rehearsal's run and check of the whole-state step on the final state took over ${seconds(rehearsalBound)} while every command waited (the first time: ${seconds(rehearsedMs)}); it was stopped and nothing changed`);
        }
        report.census = again.census;
        report.dropped = again.dropped;
        report.sample = again.sample;
        validateMs = again.validateMs;
        this.#check();
        // Every command waits on this run: it may take three times what the step itself took in the
        // rehearsal, or the cut-over's limit if that is more. A step slow only here (it tells the two
        // processes apart) held every command for 9.6 s under the migration's own 30 s limit; and
        // bounded by the whole rehearsal (sync, run, validate(), checks), one whose validate() took 7 s
        // there held them 13 s.
        const bound = Math.min(ms, Math.max(limits.cutoverTimeoutMs, 3 * again.mappedMs));
        const whole = new Pipeline(fresh, last, now, { ms: bound, shapes });
        whole.runAll();
        final = whole.result().state;
        this.#built(final, last).run(Infinity);
        await this.#compare(whole, last, again, true);
      }
      this.#check();
      this.#acceptDrops(report.dropped);
      if (performance.now() - paused > limits.cutoverTimeoutMs && begun.online)
        die('E_CUTOVER', `the cut-over took ${Math.round(performance.now() - paused)} ms, over its ${limits.cutoverTimeoutMs} ms limit; nothing changed (try again when the feed is quieter, or with a pace)`);

      // ======== point of no return: nothing below can fail ========
      this.#phase = 'commit';
      report.pauseMs = round(performance.now() - paused);
      report.phases.commit = report.pauseMs;
      report.queued = host.queued();
      report.result = 'committed';
      this.#measured();
      host.commit(target, final, report, last);
      // the rehearsal built the very same state: it mirrors that now, so the next sync is a patch
      void reh.adopt(final).catch(() => undefined);
      return report;
    } catch (err) {
      // An abort that came first is why: a stop closes the rehearsal process under the call in flight,
      // which then failed E_REHEARSAL, and a stop while migrating or in the cut-over was refused so, as
      // if that process had died on its own (E_SHUTTING_DOWN only while held).
      const e = this.#abort ?? (err instanceof MoltError ? err : new MoltError('E_INTERNAL', describeThrown(err)));
      report.result = 'refused';
      report.error = { code: e.code, message: e.message };
      // a way back that breaks on what the release did to the state has another, if its window is open
      if (this.#req.kind === 'rollback' && !this.#req.replay && MIGRATION_FAILED.has(e.code) && this.#host.window() !== null)
        report.error.message += `. The reversible window of the last upgrade is open: \`molt rollback --replay\` goes back without this migration (the state from before the upgrade, with the writes since replayed through v${report.to.version})`;
      if (e.code === 'E_REHEARSAL' || e.code === 'E_MIGRATION_TIMEOUT') reh.stop();
      // The rehearsal's copy of the live state may be what differs: after a commit it adopts the state
      // it built itself, and a release that told the processes apart where nothing compares (a
      // collection's own code, ART.md) left the live state otherwise. Copied whole next time, or
      // every honest upgrade after it would be refused the same way.
      if (e.code === 'E_DIVERGED') reh.forget();
      return this.#end('refused');
    } finally {
      if (this.#phase !== 'commit') host.resume();
      // also the proof that release code left nothing running there: release code has no timers or I/O,
      // so what it left behind (an async function's continuation) runs before the child reads this; a
      // child that does not answer within 2 s is stopped, and the next upgrade starts a fresh one
      void reh.call('end', {}, 2_000).catch(() => undefined);
    }
  }

  /**
   * One catch-up round: bring the rehearsal's mirror to `state`, re-migrate what changed there and
   * check it, then do the same here. Null when nothing changed since the last round. `pausedAt`: the
   * round runs inside the cut-over, which began then (commands wait).
   */
  async #catchUp(live: Pipeline | null, state: unknown, now: number, validate: boolean, pausedAt: number | null = null): Promise<number | null> {
    const reh = this.#host.rehearsal;
    const { cutoverTimeoutMs, migrationTimeoutMs } = this.#host.limits;
    const inPause = pausedAt !== null;
    // Inside the cut-over the rehearsal's round gets what is left of the cut-over's limit: a step that
    // looped only on a post written right before it (its calls bounded by the migration's limit there)
    // held every command 31 s under a 1 s cut-over limit
    const deadline = () => (inPause ? Math.max(1, cutoverTimeoutMs - (performance.now() - pausedAt)) : migrationTimeoutMs * 2 + 10_000);
    // Nothing written since the round (or the validate phase) that checked this very state, there and
    // here (in the cut-over: and walked here for plain data): no delta to catch up, and validate()
    // would only see again what it saw.
    if (live && live.input === state && (!inPause || live.result().state === this.#frozen)) return null;
    type Round = { entities: number; mappedMs: number; census: { before: Record<string, number>; after: Record<string, number> }; dropped: Record<string, number>; changed: Record<string, string[]>; digests: Record<string, Stream> | null; tree: Tree | null };
    let c: Round;
    try {
      await reh.sync(state);
      c = await reh.call<Round>('check', { now, catchUp: true, validate }, deadline());
    } catch (err) {
      if (!inPause || !timedOut(err)) throw err;
      die('E_CUTOVER', `the rehearsal's catch-up of the last changes did not end within the cut-over's ${seconds(cutoverTimeoutMs)} limit while every command waited; it was stopped and nothing changed`);
    }
    this.#check();
    this.report.census = c.census;
    this.report.dropped = c.dropped;
    this.report.changed = c.changed;
    if (live) {
      live.now = now;
      // Inside the cut-over this process's calls into release code end with its limit too: each bounded
      // only by the cut-over's whole limit, they ran after the rehearsal had used most of it
      const end = inPause ? pausedAt + cutoverTimeoutMs : Infinity;
      live.until = end;
      try {
        this.#bounded(live, { whole: c.mappedMs }, inPause, () => live.catchUp(state));
        // against the result frozen last: only what the round changed is walked
        if (inPause) {
          this.#built(live.result().state, this.#frozen).run(Infinity);
          this.#frozen = live.result().state;
        } else await this.#checkBuilt(live.result().state, this.#frozen);
        await this.#compare(live, state, c, inPause, undefined, c.mappedMs);
      } catch (err) {
        if (!inPause || !(err instanceof MoltError && err.code === 'E_MIGRATION_TIMEOUT') || performance.now() < end - 1) throw err;
        die('E_CUTOVER', `the live process's catch-up of the last changes did not end within the cut-over's ${seconds(cutoverTimeoutMs)} limit while every command waited (${err.message.replace(/; nothing changed$/, '')}); it was stopped and nothing changed`);
      } finally {
        live.until = Infinity;
      }
    }
    return c.entities;
  }

  /**
   * Run `fn` on `live` (a slice of the first pass, or a catch-up round), its calls into release code
   * bounded by what the rehearsal took for as much (`theirs`, ms): `whole` for a round, a step's finish
   * and start, `slice` for a slice of `n` entities (mapped and checked). LIVE_FACTOR times as long, at least
   * LIVE_FLOOR_MS, at most the migration's own limit (inside the cut-over's pause, its limit too).
   * Slower than that here is refused, saying so.
   */
  #bounded<T>(live: Pipeline, theirs: { whole: number; slice?: number; n?: number }, inPause: boolean, fn: () => T): T {
    const limits = this.#host.limits;
    const bound = (ms: number) => this.#liveBound(ms, inPause);
    const whole = bound(theirs.whole);
    const slice = theirs.slice === undefined ? null : bound(theirs.slice);
    live.limitMs = whole;
    live.sliceLimitMs = slice;
    try {
      return fn();
    } catch (err) {
      const own = slice ?? whole;
      if (err instanceof MoltError && err.code === 'E_MIGRATION_TIMEOUT' && Math.min(whole, own) < limits.migrationTimeoutMs) {
        const at = err.message.replace(/; nothing changed$/, '');
        const ms = (x: number) => `${Math.round(x).toLocaleString('en')} ms`;
        const there = theirs.slice !== undefined
          ? `in a slice of the first pass (${theirs.n!.toLocaleString('en')} entities) in the live process, where the rehearsal took ${ms(theirs.slice)} for as many at its slowest (mapping and checking them) and ${ms(theirs.whole)} for its longest call`
          : `in a catch-up round in the live process, where the rehearsal took ${ms(theirs.whole)} for it`;
        die('E_MIGRATION_TIMEOUT', `${at} ${there}: release code this much slower here than there would hold the feed; nothing changed`);
      }
      throw err;
    } finally {
      live.limitMs = limits.migrationTimeoutMs;
      live.sliceLimitMs = null;
    }
  }

  /** What a call here may take for work the rehearsal did in `ms` (#bounded). */
  #liveBound(ms: number, inPause: boolean): number {
    const limits = this.#host.limits;
    return Math.min(inPause ? Math.min(limits.migrationTimeoutMs, limits.cutoverTimeoutMs) : limits.migrationTimeoutMs, Math.max(LIVE_FLOOR_MS, LIVE_FACTOR * ms));
  }

  /**
   * Held: said so, then `round` (a catch-up) every HOLD_ROUND_MS until the operator cuts over; an
   * abort or a limit ends it by throwing from #check.
   */
  async #holdUntilCutover(round: (go: () => boolean) => Promise<void>, log: Record<string, unknown>): Promise<void> {
    this.#held = true;
    this.#phase = 'held';
    this.#announce('held', { progress: this.#progress, census: this.report.census.after, ...this.#before() });
    this.#host.log('held', log);
    let go = false;
    this.#cutover = () => {
      go = true;
      this.#wake?.();
    };
    try {
      while (!go) {
        await this.#sleep(HOLD_ROUND_MS);
        this.#check();
        if (!go) await round(() => go);
      }
    } finally {
      this.#cutover = null;
      this.#held = false;
    }
  }

  /** The steps between two releases; null when they lead back through a step without down and the
   *  reversible window is open (the rollback then replays it). */
  #plan(current: LoadedRelease, target: LoadedRelease, window: ReversibleWindow | null): Plan | null {
    try {
      return plan(current, target);
    } catch (err) {
      if (window && err instanceof MoltError && err.code === 'E_NO_DOWN') return null;
      throw err;
    }
  }

  /**
   * A rollback inside the reversible window: the previous release, on the state at the upgrade's
   * cut-over, with every write since replayed through it (window.ts). Online like a migration: the
   * replay runs in slices while the feed serves, writes made meanwhile join it, the cut-over replays
   * the last few. Writes the previous version refuses are the casualties.
   */
  async #windowRollback(window: ReversibleWindow): Promise<UpgradeReport> {
    const host = this.#host;
    const report = this.report;
    const limits = host.limits;
    const source = host.previous()!;
    const t0 = performance.now();
    const current = host.current().release;
    const target = loadRelease(source, limits.loadTimeoutMs);
    if (target.hash !== window.release.hash) die('E_INTERNAL', 'the reversible window does not lead to the previous release');
    report.to = { version: target.version, release: target.hash };
    report.direction = target.version < current.version ? 'down' : 'up';
    report.steps = [{ step: 'window', describe: `Back to v${target.version} as it was before the last upgrade; everything written since is written again on it.` }];
    report.describe = report.steps[0]!.describe;
    report.phases.load = round(performance.now() - t0);
    this.#phase = 'load';
    this.#announce('begin', { kind: report.kind, describe: report.describe, steps: report.steps, hold: this.#req.hold ?? false, pace: this.#req.pace ?? null, dryRun: report.dryRun, window: true }, report.phases.load);
    this.#announce('load', { steps: report.steps }, report.phases.load);
    this.#host.log('begin', { kind: report.kind, window: true, writes: window.writes.length, to: target.version });
    // Unrehearsed here (the replay runs only in this process): bounded as the status's census is
    report.census.before = liveCensus(current, host.current().state, limits);
    const replay = new Replay(target, window.state, window.writes, limits.handlerTimeoutMs, limits.maxGrowthBytes);
    this.#phase = 'migrate';
    this.#migrateStart = performance.now();
    const t1 = performance.now();
    const progress = (force = false) => this.#setProgress({ writes: { done: replay.at, total: window.writes.length } }, 0, force);
    progress(true);
    let n = 64;
    // A window that closes (a bound passed) empties its writes: the replay must not take that for done.
    const open = () => {
      if (window.closed) die('E_NOT_HELD', `the reversible window closed (${window.closed}) during the rollback; nothing changed: molt rollback again goes back through down`);
    };
    // The pace holds for the writes there were when the rollback began. Those written meanwhile are
    // caught up with at full speed (a slice between two turns of the commands) until few are left, or
    // for WINDOW_CATCH_UP_MS at most: on a feed written as fast as it can be served the replay never
    // gains on the writes, and the rest is replayed in the cut-over, within its time limit.
    const initial = window.writes.length;
    /** What replaying one write took lately, ms (the cut-over's pause is forecast from it). */
    let perWrite = 0;
    const slices = async (stop: () => boolean): Promise<void> => {
      while (!replay.done && !stop()) {
        this.#check();
        open();
        const s0 = performance.now();
        const k = replay.next(n, s0 + SLICE_TARGET_MS);
        const took = performance.now() - s0;
        if (k > 0) perWrite = took / k;
        n = Math.max(16, Math.min(4096, Math.round((k * SLICE_TARGET_MS) / Math.max(took, 0.1))));
        progress();
        if (replay.at <= initial) await this.#pace(k, took);
        else await tick();
      }
    };
    let caughtUpFrom: number | null = null;
    await slices(() => {
      if (replay.at < initial) return false;
      caughtUpFrom ??= performance.now();
      return window.writes.length - replay.at <= SMALL_ROUND || performance.now() - caughtUpFrom > WINDOW_CATCH_UP_MS;
    });
    open();
    // a dry run replays everything written so far here, in slices too (it never reaches the cut-over)
    if (report.dryRun) {
      const end = window.writes.length;
      await slices(() => replay.at >= end);
    }
    report.phases.migrate = round(performance.now() - t1);
    const finish = () => {
      report.dropped = replay.casualties.length ? { commands: replay.casualties.length } : {};
      report.casualties = replay.casualties.slice(0, 20);
      report.census.after = liveCensus(target, replay.state, limits);
      report.migrated = window.writes.length;
    };
    finish();
    this.#announce('validate', { census: report.census.after, ...this.#before() });
    if (report.dryRun) {
      report.result = 'dry-run';
      return this.#end('dry-run');
    }
    this.#acceptDrops(report.dropped);
    // held: kept caught up with the writes until the operator says cut over (or aborts)
    if (this.#req.hold) {
      await this.#holdUntilCutover(async (go) => {
        open();
        const start = performance.now();
        await slices(() => go() || window.writes.length - replay.at <= SMALL_ROUND || performance.now() - start > WINDOW_CATCH_UP_MS);
      }, { window: true });
      finish();
      this.#acceptDrops(report.dropped);
    }
    // refused before commands wait, when the rest would not replay within the cut-over's limit
    const forecast = (window.writes.length - replay.at) * perWrite;
    if (forecast > limits.cutoverTimeoutMs / 2)
      die('E_CUTOVER', `${(window.writes.length - replay.at).toLocaleString('en')} writes are still to replay, about ${Math.round(forecast)} ms with commands waiting, over half the cut-over's ${limits.cutoverTimeoutMs} ms limit: the feed is written about as fast as the replay goes; nothing changed (try again when it is quieter)`);
    this.#phase = 'cutover';
    this.#announce('cutover', {});
    host.log('cutover', {});
    host.hold();
    const paused = performance.now();
    const left = window.writes.length - replay.at;
    // (no write comes in while commands wait: what is left is what there is)
    replay.next(Number.MAX_SAFE_INTEGER, paused + limits.cutoverTimeoutMs);
    if (!replay.done)
      die('E_CUTOVER', `the cut-over replayed ${(left - (window.writes.length - replay.at)).toLocaleString('en')} of the last ${left.toLocaleString('en')} writes within its ${limits.cutoverTimeoutMs} ms limit, and stopped there; nothing changed (try again when it is quieter)`);
    finish();
    this.#acceptDrops(report.dropped);
    this.#check();
    open();
    if (performance.now() - paused > limits.cutoverTimeoutMs)
      die('E_CUTOVER', `the cut-over replayed ${left.toLocaleString('en')} writes in ${Math.round(performance.now() - paused)} ms, over its ${limits.cutoverTimeoutMs} ms limit: the feed is written faster than the replay gains on it; nothing changed (try again when it is quieter)`);
    // ======== point of no return ========
    this.#phase = 'commit';
    report.pauseMs = round(performance.now() - paused);
    report.phases.commit = report.pauseMs;
    report.cutoverEntities = left;
    report.queued = host.queued();
    report.result = 'committed';
    this.#measured();
    host.commit(target, replay.state, report, null);
    // the rehearsal mirrors a state this one shares little with: the next upgrade syncs it whole
    host.rehearsal.forget();
    return report;
  }

  /**
   * A same-version release (a hotfix) runs no migration, so what it could take away is checked here:
   * the browser view every open page uses, and the way back (a step's down the running release has).
   * The shadow run then compares its behaviour on recent commands. --force leaves these to the operator.
   */
  #sameVersion(current: LoadedRelease, target: LoadedRelease): void {
    const problems: string[] = [];
    if (current.source.view && !target.source.view) problems.push('it has no browser view, and the running release has one: every open page would lose its look');
    for (const m of current.migrations) {
      const same = target.migrations.find((x) => x.from === m.from && x.to === m.to);
      if (!same) problems.push(`it drops migration ${m.from}->${m.to}`);
      else if (m.down !== undefined && same.down === undefined) problems.push(`its migration ${m.from}->${m.to} has no down: version ${current.version} could no longer roll back`);
    }
    if (problems.length === 0) return;
    if (this.#req.force) {
      this.report.skipped.push(...problems.map((p) => `same-version check: ${p}`));
      return;
    }
    die('E_SHADOW', `release ${target.hash.slice(0, 12)} replaces v${current.version} with v${target.version}, but ${problems.join('; and ')}. Nothing changed; push with --force if that is what you mean`);
  }

  /**
   * Losses are confirmed, not only declared: every kind the migration drops from needs the operator's
   * --accept-drops kind=N with N at least what was dropped (the dry run shows the counts). Commands
   * served meanwhile may lower the count, never raise it past what was accepted.
   */
  #acceptDrops(dropped: Record<string, number>): void {
    const accepted = this.#req.acceptDrops ?? {};
    const over = Object.entries(dropped).filter(([kind, n]) => n > 0 && n > (accepted[kind] ?? 0));
    if (over.length === 0) return;
    const list = over.map(([kind, n]) => `${kind}=${n}`).join(',');
    die('E_DROPS_NOT_ACCEPTED', `this ${this.#req.kind} drops ${over.map(([kind, n]) => `${n} ${kind}`).join(' and ')}${over.some(([kind]) => accepted[kind]) ? `, more than the ${over.map(([kind]) => `${accepted[kind] ?? 0} ${kind}`).join(' and ')} accepted` : ''}; nothing changed. Read the dry run, then run it again with --accept-drops ${list}`);
  }

  /**
   * The plain-data check of what is new in a state built here, against `prev` (checked and deeply
   * frozen), freezing as it goes. The rehearsal checked the state it built, but that is not this one:
   * release code can keep state of its own and behave otherwise there than here (it ran other calls
   * there first), so what this process will commit is checked here as well, by reading descriptors,
   * never values through a getter. A failure refuses, naming the path.
   */
  #built(state: unknown, prev: unknown, over?: Map<object, object>): PlainWalk {
    const steps = this.report.steps.map((s) => s.step).join(', ');
    return new PlainWalk(state, prev, `the state after ${steps || 'no migration'} (checked in the live process)`, 'state', Infinity, { over });
  }

  /**
   * The same check, slice by slice, during the first pass: each slice walks the collection it built
   * against the one before it (the live process waits for the rehearsal between slices, so this costs
   * little time), and the walk at the end skips what they walked (walked.ts).
   */
  #walkSlices(live: Pipeline): Walked {
    const walked = new Walked();
    const digests = this.#digests;
    live.observe((step) => {
      const where = `the state after ${step.label} (checked in the live process)`;
      return {
        mapped() {},
        placed(kind, keys, before, after, c) {
          // checked before the digest reads them (it reads values directly)
          if (walked.note(step.index, kind, c)) walkSlice(where, kind, keys, before, after, c);
          else checkEntities(where, kind, keys, before, after);
          digests.entities(streamOf(step.index, kind), keys, after);
        },
        caught(kind, keys, after) {
          // digested when taken (#compare), outside any time limit: checked here, inside the round's,
          // for `with` may have stored other values than these, and then the round's walk never met
          // them (a getter in one, the post written right before a cut-over, wedged the process there)
          checkCaught(where, kind, keys, after);
          digests.caught(streamOf(step.index, kind, true), keys, after);
        },
      };
    });
    return walked;
  }

  /** What this process built, as digests (digest.ts), to compare with what the rehearsal built. */
  readonly #digests = new Digests();

  /**
   * The state this process built (from `input`) against what the rehearsal built and checked: the same
   * digests, or E_DIVERGED naming the step, the kind and the block where they part; then the same
   * state, node by node (tree.ts: `tree`, or digested now), or E_DIVERGED naming where in the state.
   * Called once what was built here is checked for plain data and frozen (the digests read values
   * directly).
   */
  async #compare(pipeline: Pipeline, input: unknown, theirs: { digests: Record<string, Stream> | null; tree: Tree | null } | null | undefined, inPause = false, tree?: Tree, roundMs = 0): Promise<void> {
    const state = pipeline.result().state;
    this.#digests.around('state', state, input, pipeline.built());
    const mine = this.#digests.take();
    if (!theirs?.digests || !theirs.tree) die('E_REHEARSAL', 'the rehearsal did not say what it built (no digests); nothing changed');
    const mapped = (stream: string) => {
      const { step, kind, caughtUp } = streamParts(stream);
      const label = this.report.steps[step]?.step;
      return `the ${kind} that ${label ? `migration ${label}` : 'the migration'} mapped${caughtUp ? ' in a catch-up round' : ''}`;
    };
    const d = this.#digests.differs(mine, theirs.digests);
    let what: string | null = null;
    if (d !== null)
      what = d.stream === 'state'
        ? 'what the last step built around its collections (finish)'
        : `${mapped(d.stream)}, ${d.first !== undefined ? `from key ${JSON.stringify(d.first)} on ` : ''}(entities ${(d.block * BLOCK + 1).toLocaleString('en')} to ${Math.min(Math.max(d.mine, d.theirs), (d.block + 1) * BLOCK).toLocaleString('en')} of ${d.mine === d.theirs ? `the ${d.mine.toLocaleString('en')} it rewrote` : `those it rewrote: ${d.mine.toLocaleString('en')} here, ${d.theirs.toLocaleString('en')} there`})`;
    else {
      // what a catch-up round re-migrated, entity by entity; one only the rehearsal re-migrated is
      // compared with what this process holds there (checked plain data before it is read). Reading it
      // is release code (the collection's lookup): those lookups together get what a call of the
      // round may take here, under one watchdog (one each took 2 s for a few thousand). Bounded by the
      // migration's limit, one that looped here only, on a key only the rehearsal re-mapped, held
      // every command 30 s in a cut-over with a 1 s limit.
      const bound = this.#liveBound(roundMs, inPause);
      let c: ReturnType<typeof compareCaught>;
      try {
        c = pipeline.within('the live process, reading back (lookup) the entities only the rehearsal re-mapped, threw', bound, () =>
          compareCaught(mine, theirs.digests!, (stream, key) => {
            const { step, kind } = streamParts(stream);
            const held = pipeline.entity(step, kind, key);
            if (held !== undefined) checkPlain(held, null, `the state after ${this.report.steps[step]?.step ?? 'the migration'} (checked in the live process)`, 'state');
            return held;
          }));
      } catch (err) {
        if (!(err instanceof MoltError && err.code === 'E_MIGRATION_TIMEOUT')) throw err;
        die('E_MIGRATION_TIMEOUT', `the live process ran for more than ${Math.round(bound).toLocaleString('en')} ms reading back (lookup) the entities only the rehearsal re-mapped in a catch-up round, where the rehearsal took ${Math.round(roundMs).toLocaleString('en')} ms for the whole round: release code this much slower here than there would hold the feed; nothing changed`);
      }
      if (c !== null) what = `${mapped(c.stream)}, at key ${JSON.stringify(c.key)}`;
    }
    if (what === null) {
      // The state itself: what the collections' own code (with, changed, lookup) stored and found is
      // release code's word in the streams above, and may be otherwise here than there.
      const at = treeDiffers(tree ?? (await this.#tree(state, inPause)), theirs.tree);
      if (at === null) return;
      what = `the new state itself, compared node by node, ${at ? `under \`${at}\`` : 'outside the collections\' nodes'} (what the collections' own code stored or found: with, changed, lookup; a collection of the release's own must build the same nodes whatever the batches it is given)`;
    }
    die('E_DIVERGED', `the live process built a different state than the rehearsal checked, in ${what}. Release code behaves otherwise in one process than in the other (state of its own at module level?), so the checks did not see what would be committed; nothing changed`);
  }

  /**
   * The whole-state digest of a state built here (checked and frozen), in runs of about SLICE_TARGET_MS
   * that yield, as the first pass's slices, or at once in the pause (`inPause`), where only a round's
   * new nodes are new to it.
   */
  async #tree(state: unknown, inPause = false): Promise<Tree> {
    const tree = new TreeDigest(state);
    if (inPause) tree.run(Infinity);
    else
      // the entries a run takes vary with the data (a post is a few, its texts cost by their length)
      for (let size = TREE_SLICE; ; ) {
        const t0 = performance.now();
        if (tree.run(size)) break;
        size = nextSlice(size, performance.now() - t0, TREE_SLICE / 8, TREE_SLICE * 8);
        this.#check();
        await this.#yield();
      }
    return tree.result();
  }

  /** #built run in slices that yield; then `state` is the one frozen last. */
  async #checkBuilt(state: unknown, prev: unknown, over?: Map<object, object>): Promise<void> {
    const walk = this.#built(state, prev, over);
    while (!walk.run(20_000)) {
      this.#check();
      await this.#yield();
    }
    this.#frozen = state;
  }

  /** The last state built here that is frozen all through (catch-up rounds freeze against it). */
  #frozen: unknown = undefined;

  /**
   * What the upgrade cost, as the report gives it: its time, the peak heap, the CPU of both processes,
   * and how late this process's event loop ran meanwhile (what a command could wait on top of its own
   * turn; the cut-over's pause, where commands wait in the queue, is pauseMs).
   */
  #measured(): void {
    const report = this.report;
    report.totalMs = round(performance.now() - this.#started);
    report.peakHeapMb = round(this.#peakHeap / 2 ** 20);
    report.loopDelayMs = this.#loop.stop();
    report.gc = this.#gc.stop();
    const live = process.cpuUsage(this.#cpu0.live);
    report.cpuMs = { live: round((live.user + live.system) / 1000), rehearsal: round(this.#host.rehearsal.cpuMs - this.#cpu0.rehearsal) };
  }

  /** How late the event loop runs while this upgrade does. */
  readonly #loop = new LoopLag();
  /** The collector's pauses on this thread while this upgrade does. */
  readonly #gc = new GcPauses();

  #end(result: 'dry-run' | 'refused'): UpgradeReport {
    const report = this.report;
    this.#measured();
    if (result === 'dry-run') this.#announce('dry-run', { report }, 0);
    else {
      report.failedAt = this.#phase;
      this.#announce('refused', { error: report.error, phase: this.#phase, ...this.#before() });
    }
    this.#host.log(result, { error: report.error?.code, totalMs: report.totalMs });
    return report;
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)} MB`;
}

/** A short time as a person reads it: milliseconds under a second, else seconds to a tenth. */
function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * A pace as a person reads it: its whole part in full, a fraction to three significant figures.
 * `toLocaleString` keeps three decimals (`--pace 0.0001` was said as "a pace of 0 entities a
 * second") and `toPrecision` writes a tiny share as 1e-7.
 */
function figure(n: number): string {
  return n.toLocaleString('en', { maximumSignificantDigits: Math.max(3, Math.floor(Math.log10(Math.max(1, n))) + 1) });
}

/** A time a pace would take, as a person reads it: seconds, or hours past two of them. */
function long(ms: number): string {
  return ms > 7_200_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${Math.round(ms / 1000)} s`;
}

/**
 * The rehearsal did not answer within the deadline it was given (not: it died, or was refused). Inside
 * the cut-over that deadline is what was left of its limit, so this is the limit spent. Told by the
 * error, not by reading the clock after it: a timer fires on libuv's loop time, read when the turn
 * began, and so up to a turn early by `performance.now()` (CI once saw a cut-over limit of 1 s met this
 * way say "did not answer check" instead of E_CUTOVER).
 */
function timedOut(err: unknown): boolean {
  return err instanceof MoltError && err.code === 'E_REHEARSAL' && err.detail?.['timedOut'] === true;
}
