/**
 * The kernel: the part of molt that is never reloaded.
 *
 *   socket ─frame─▶ transport ─command─▶ Kernel.dispatch ──(while upgrading: wait in the queue)
 *                                             │
 *                          sandbox.run(feed.handle(state, command, ctx))     ◀── feed vN, swapped
 *                                             │ {state, reply, events, bind} | {error}
 *                          cell = {…cell, state}              (one assignment; old state untouched)
 *                                             │
 *                          effects: bind the connection, number the events, deliver them
 *
 *   operator ─release─▶ Kernel.upgrade ──▶ UpgradeRun (upgrade/orchestrate.ts), online:
 *       load ─ rehearse in a child process, migrate here one slice behind, over a frozen snapshot,
 *       while commands are served ─ validate and check (in the rehearsal) ─ catch up with what
 *       commands changed ─ (held) ─ cut-over: commands wait for the last changes
 *       ── point of no return ──
 *       commit:  cell = next  (one synchronous step) ─ announce to every connection ─ drain the queue
 *
 * One cell holds {version, release, state}: the code and the state it runs on change together or not
 * at all. A refused upgrade leaves the very same cell object in place.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import v8 from 'node:v8';
import type { Caller, Command, Context, FeedEvent, UserId } from '../contract.ts';
import { Breaker, type Circuit } from './breaker.ts';
import { Ceiling } from './ceiling.ts';
import { ERRORS, MoltError, die, type ErrorCode } from './errors.ts';
import { FairQueue } from './fair.ts';
import { checkOutcome, show } from './guard.ts';
import { resolveLimits, type Limits } from './limits.ts';
import { checkPlain, checkSent, checkSentOutcome } from './plain.ts';
import { Lineage } from './lineage.ts';
import { loadRelease, type LoadedRelease, type ReleaseSource } from './release.ts';
import { Rehearsal } from './upgrade/rehearsal.ts';
import { served, type Served } from './journal.ts';
import { Ring } from './ring.ts';
import { ReversibleWindow, type Closed } from './upgrade/window.ts';
import { UpgradeRun, type Pace } from './upgrade/orchestrate.ts';
import type { HistoryEntry, UpgradeProgress, UpgradeReport } from './upgrade/report.ts';
import { callRelease, liveCensus, validate } from './migrate/verify.ts';
import { TimeoutError, describeThrown, runBounded, thrown } from './sandbox.ts';
import type { Listener, Refusal, Result, UpgradeNotice, Welcome } from './notices.ts';
import { EventLog } from './events.ts';

export type { Listener, Numbered, Refusal, Result, UpgradeNotice, UpgradePhase, Welcome } from './notices.ts';

/** A client connection as the kernel sees it. The transport owns the socket and gives a Listener. */
export interface Connection {
  readonly id: string;
  readonly user: UserId | null;
}

/** What the kernel needs from its host. Everything is optional; tests pass a fixed clock. */
export interface KernelOptions {
  limits?: Partial<Limits>;
  /** Wall clock in ms. */
  clock?: () => number;
  /** Start from this state instead of feed.init() (it is validated first). */
  initialState?: unknown;
  /** A pino-like logger; the kernel logs upgrade phases, never tokens or post text. */
  log?: Logger;
  /** Hooks for metrics. */
  observe?: Observer;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Observer {
  command?(type: string, outcome: 'ok' | 'refused' | 'error', ms: number): void;
  /** Command type `type` was set aside by the breaker. */
  circuit?(type: string): void;
  upgrade?(report: UpgradeReport): void;
}

export type { HistoryEntry, UpgradeProgress, UpgradeReport } from './upgrade/report.ts';

export interface Status {
  version: number;
  release: string;
  uptimeMs: number;
  census: Record<string, number>;
  /** Set when the running release's census() breaks (then `census` is empty). */
  censusError?: string;
  connections: number;
  online: number;
  seq: number;
  upgrading: boolean;
  /** The upgrade running now, if any: its phase and progress. */
  upgrade: UpgradeProgress | null;
  /** The last upgrade's reversible window while it is open: rollback replays the writes since. */
  window: ReturnType<ReversibleWindow['status']> | null;
  queued: number;
  /** Command types of the running release that ran out their time in a row, and how long each stays
   *  set aside (E_CIRCUIT_OPEN; 0: its next command is let through). */
  circuits: Circuit[];
  releases: { version: number; release: string }[];
  history: HistoryEntry[];
}

interface Cell {
  readonly release: LoadedRelease;
  readonly state: unknown;
}

interface Conn extends Connection {
  user: UserId | null;
  readonly listener: Listener;
}

interface Waiting {
  conn: Conn | null;
  command: Command;
  resolve: (r: Result) => void;
  /** Set for a system command (presence): the user it concerns. */
  system?: UserId;
  /** For a system command: how many times its handler ran out its time (it is served again). */
  timeouts?: number;
}

/** A command served inside a batch, with the effects still to run. */
interface Done {
  w: Waiting;
  result: Result;
  version: number;
  ms: number;
  /** The feed refused it (its own error code), as opposed to a failure. */
  refused?: boolean;
  /** The state after this command, when it changed it. */
  state?: unknown;
  events?: readonly FeedEvent[];
  bind?: { conn: Conn; before: UserId | null; after: UserId | null };
  /** For kernel commands: answered when the effects before it have run (they read the event log). */
  late?: '$ping' | '$since';
  /** An accepted feed command as it ran, for the journal. */
  served?: Served;
  /** Its handler ran to the end in time (it may have thrown or refused): for the breaker. */
  ran?: boolean;
  /** Its events times the connections that see them: what the transport will write (#checkFanout). */
  fanout?: { frames: number; bytes: number };
}

const SYSTEM_PRESENCE = 'presence';
/** How many times a system command that ran out its time is served again before it is given up. */
const SYSTEM_TIMEOUT_RETRIES = 3;

/** Lanes of the fair queue: one per connection, one for the kernel's system commands, one for
 *  commands from no connection (the operator, tests). */
const SYSTEM_LANE = Symbol('system');
const NO_CONNECTION_LANE = Symbol('no connection');
/** At most one reload of the running release a minute past the heap's mark (#reloadPastMark). */
const RELOAD_PAST_MARK_MS = 60_000;
/** Events to every connection one command may always send, however many connections (#checkFanout). */
const BROADCASTS_ALWAYS = 4;
/** Bytes of events the $sinces of one batch may carry, about (one $since at least): see #batch. */
const SINCE_BYTES_PER_BATCH = 1024 * 1024;

/** A served command, with what it took. */
function finished(w: Waiting, release: LoadedRelease, t0: number, result: Result, extra?: Partial<Done>): Done {
  const d: Done = { w, result, version: release.version, ms: performance.now() - t0 };
  return extra === undefined ? d : Object.assign(d, extra);
}

/** ctx.token for one command: a fresh random token, remembered for the journal. */
function tokenInto(tokens: string[]): () => string {
  return () => {
    const t = randomBytes(16).toString('base64url');
    tokens.push(t);
    return t;
  };
}

function fail(code: ErrorCode, message?: string): Result {
  return { ok: false, error: { code, message: message ?? ERRORS[code] } };
}

/** A status census slower than this, ms, is run again at most once every SLOW_CENSUS_FACTOR times as long. */
const SLOW_CENSUS_MS = 50;
const SLOW_CENSUS_FACTOR = 20;
/** Upgrades aborted by id before they arrived, kept until they do (the oldest forgotten past this). */
const ABORT_AHEAD = 100;

export class Kernel {
  #cell: Cell;
  /** Installed releases, oldest first; the last one runs. Rollback pops. Sources only: old code is
   *  re-evaluated when needed, so nothing keeps a stale sandbox alive. */
  #stack: { version: number; hash: string; source: ReleaseSource }[] = [];
  readonly #limits: Limits;
  readonly #clock: () => number;
  readonly #log: Logger | undefined;
  readonly #observe: Observer;
  readonly #started: number;
  readonly #conns = new Map<string, Conn>();
  /** Open connections per signed-in user. */
  readonly #userConns = new Map<UserId, number>();
  #scheduled = false;
  /** The next turn serves light commands first (see #drain). */
  #lightTurn = true;
  #closed = false;
  /** Told when nothing waits and no upgrade runs, once the kernel is closed. */
  #idle: (() => void) | null = null;
  readonly #ceiling: Ceiling;
  /** Command types whose handler keeps running out its time, set aside for a while (breaker.ts). */
  readonly #breaker: Breaker;
  /** This process's boot: a page that reconnects and sees another boot id knows the feed restarted. */
  readonly boot = randomBytes(9).toString('base64url');
  #online: readonly UserId[] = Object.freeze([]);
  #nextConn = 1;
  readonly #events: EventLog;
  /** Commands wait in the queue (an upgrade's cut-over). */
  #upgrading = false;
  /** What waits to be served, one lane per connection, served round-robin. */
  readonly #queue = new FairQueue<Waiting>((w) => w.conn ?? (w.system !== undefined ? SYSTEM_LANE : NO_CONNECTION_LANE));
  /** The upgrade running now (one at a time). */
  #upgrade: UpgradeRun | null = null;
  /** The running upgrade's report, once it is recorded in the history (what `/cutover` waits for). */
  #ended: Promise<UpgradeReport> | null = null;
  /**
   * The running attempt's frames so far, the newest of each phase where it first came (a repeated
   * migrate or catch-up replaces its own): told again to a connection that opens while it runs, so a
   * page loaded mid-upgrade (or reloaded while one is held for the switch) shows it at once.
   */
  #story: UpgradeNotice[] = [];
  /** Past the second heap mark, this batch: the refusal every feed command gets (ceiling.ts). */
  #halt: Refusal | null = null;
  /** When the running release may be loaded again past the heap's mark (#reloadPastMark). */
  #reloadAt = 0;
  readonly #rehearsal: Rehearsal;
  readonly #history: HistoryEntry[] = [];
  /** The reversible window of the last upgrade (upgrade/window.ts), while it is open. */
  #window: ReversibleWindow | null = null;
  /** The last commands accepted, as they ran: the shadow run replays them before a cut-over. */
  readonly #recent: Ring<Served>;
  /** The last census status ran, and until when a slow one is not run again (#census). */
  #lastCensus: { release: LoadedRelease; state: unknown; value: { census: Record<string, number>; censusError?: string }; at: number; until: number } | null = null;
  /** States (and their top-level values) that were live and have been replaced (lineage.ts). */
  readonly #lineage = new Lineage();

  constructor(boot: ReleaseSource, options: KernelOptions = {}) {
    this.#limits = resolveLimits(options.limits);
    this.#recent = new Ring(this.#limits.shadowCommands, this.#limits.shadowBytes);
    this.#clock = options.clock ?? Date.now;
    this.#log = options.log;
    this.#observe = options.observe ?? {};
    this.#started = this.#clock();
    this.#ceiling = new Ceiling(this.#limits);
    this.#breaker = new Breaker(this.#limits.breakerTimeouts, this.#limits.breakerOpenMs);
    this.#events = new EventLog(this.#limits);
    const release = loadRelease(boot, this.#limits.loadTimeoutMs);
    const t = this.#limits.migrationTimeoutMs;
    const state =
      options.initialState !== undefined ? options.initialState : callRelease(release, 'E_RELEASE_LOAD', 'init()', () => release.feed.init(), t);
    checkPlain(state, null, `feed v${release.version} initial state`, 'state');
    validate(release, state, t, this.#limits.problemsShown, 'the boot state');
    const heapMb = this.#limits.rehearsalHeapMb || Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20);
    this.#rehearsal = new Rehearsal({ heapMb, nice: this.#limits.rehearsalNice, ...(this.#log ? { log: this.#log } : {}) });
    this.#cell = { release, state };
    this.#stack.push({ version: release.version, hash: release.hash, source: release.source });
    this.#record({ upgrade: randomUUID(), at: new Date(this.#started).toISOString(), kind: 'boot', dryRun: false, result: 'committed', from: null, to: release.version, release: release.hash, pauseMs: 0 });
    this.#log?.info({ version: release.version, release: release.hash }, 'booted');
  }

  // ------------------------------------------------------------------ reading

  get version(): number {
    return this.#cell.release.version;
  }
  get release(): string {
    return this.#cell.release.hash;
  }
  /** The live state: deeply frozen plain data. */
  get state(): unknown {
    return this.#cell.state;
  }
  /** Whether an upgrade is in progress (the feed keeps serving until its cut-over). */
  get upgrading(): boolean {
    return this.#upgrade !== null;
  }
  /** Whether commands are waiting for a cut-over right now. */
  get cuttingOver(): boolean {
    return this.#upgrading;
  }
  /** Command types clients may send to the running version. */
  get commands(): readonly string[] {
    return this.#cell.release.feed.commands;
  }
  get connections(): number {
    return this.#conns.size;
  }
  /** The breaker's settings (timeouts before a type is set aside, and for how long): the transport
   *  sets types aside per address by the same ones. */
  get breaker(): { readonly after: number; readonly openMs: number } {
    return this.#breaker;
  }
  /** How long command type `type` stays set aside for everyone, ms (0: it is served). */
  setAside(type: string): number {
    return this.#breaker.openFor(type, this.#cell.release.hash, performance.now());
  }

  /** Browser view code of an installed release, by hash (for /views/<hash>.js). */
  view(hash: string): string | null {
    return this.#stack.find((s) => s.hash === hash)?.source.view ?? null;
  }

  /** What connection `conn` needs to start on the running version. */
  welcome(conn: string): Welcome {
    const { release } = this.#cell;
    return {
      boot: this.boot,
      conn,
      version: release.version,
      release: release.hash,
      seq: this.#events.seq,
      commands: [...release.feed.commands],
      view: release.source.view ? `/views/${release.hash}.js` : null,
    };
  }

  status(): Status {
    const { release, state } = this.#cell;
    return {
      version: release.version,
      release: release.hash,
      uptimeMs: this.#clock() - this.#started,
      ...this.#census(release, state),
      connections: this.#conns.size,
      online: this.#online.length,
      seq: this.#events.seq,
      upgrading: this.#upgrade !== null,
      upgrade: this.#upgrade?.status() ?? null,
      window: this.#openWindow()?.status(this.#clock()) ?? null,
      queued: this.#queue.length,
      circuits: this.#breaker.circuits(release.hash, performance.now()),
      releases: this.#stack.map((s) => ({ version: s.version, release: s.hash })),
      history: [...this.#history],
    };
  }

  /**
   * The running release's census for status: a census() that breaks is reported, not thrown. It runs
   * in this process, between commands: one that took more than SLOW_CENSUS_MS is run again at most
   * once every SLOW_CENSUS_FACTOR times as long, and status says how old the counts are
   * (`censusAsOfMs`). A probe's release whose census ran its 2 s limit out on status only held the
   * feed 2 s on every call (`molt push` asks twice a second while an upgrade runs).
   */
  #census(release: LoadedRelease, state: unknown): { census: Record<string, number>; censusError?: string; censusAsOfMs?: number } {
    const now = performance.now();
    const last = this.#lastCensus;
    if (last !== null && last.release === release && (last.state === state || now < last.until))
      return last.state === state ? last.value : { ...last.value, censusAsOfMs: Math.round(now - last.at) };
    let value: { census: Record<string, number>; censusError?: string };
    try {
      value = { census: liveCensus(release, state, this.#limits) };
    } catch (err) {
      value = { census: {}, censusError: err instanceof MoltError ? `${err.code}: ${err.message}` : describeThrown(err) };
    }
    const took = performance.now() - now;
    this.#lastCensus = { release, state, value, at: now, until: took > SLOW_CENSUS_MS ? now + took * SLOW_CENSUS_FACTOR : 0 };
    return value;
  }

  // ------------------------------------------------------------------ connections

  /** Register a connection; its listener hears everything for it, starting with its welcome. */
  connect(listener: Listener): Connection {
    const conn: Conn = { id: `c${this.#nextConn++}`, user: null, listener };
    this.#conns.set(conn.id, conn);
    listener.welcome(this.welcome(conn.id));
    for (const notice of this.#story) listener.upgrade(notice);
    return conn;
  }

  disconnect(connection: Connection): void {
    const conn = this.#conns.get(connection.id);
    if (!conn) return;
    this.#conns.delete(conn.id);
    const before = conn.user;
    conn.user = null;
    this.#rebind(before, null);
    this.#schedule();
  }

  // ------------------------------------------------------------------ commands

  /**
   * The one entry point for commands. Replies in order per connection. Commands wait in one lane per
   * connection and are served round-robin in batches: each batch runs under one watchdog (starting
   * V8's watchdog costs 55-145 us of CPU here, more than a command) for at most `batchSliceMs`, then
   * the event loop gets a turn before the next one, so one busy connection delays the others by one
   * command per round, and sockets, timers and HTTP are never held for long. While an upgrade runs,
   * commands wait and are served by whichever version is running when it ends: none lost, none run
   * twice.
   */
  dispatch(connection: Connection | null, command: unknown, reply?: (result: Result) => void): Promise<Result> {
    return new Promise((resolve) => this.submit(connection, command, reply ? (r) => (reply(r), resolve(r)) : resolve));
  }

  /**
   * dispatch without a promise, for a transport: `reply` is called once, at the command's turn among
   * the effects (before the events of the commands served after it), so a transport that sends the
   * reply there keeps replies and events in order.
   */
  submit(connection: Connection | null, command: unknown, reply: (result: Result) => void): void {
    const conn = connection ? (this.#conns.get(connection.id) ?? null) : null;
    if (typeof command !== 'object' || command === null || typeof (command as Command).type !== 'string')
      return reply(fail('E_BAD_COMMAND', `command must be a map with a string type; got ${show(command)}`));
    if (this.#closed) return reply(fail('E_SHUTTING_DOWN'));
    // (the message names an upgrade only when one runs: the queue can fill without one, under load)
    if (this.#queue.length >= this.#limits.maxQueuedCommands)
      return reply(fail('E_QUEUE_FULL', this.#upgrade !== null ? 'too many commands are waiting (an upgrade is in progress); try again' : undefined));
    this.#queue.push({ conn, command: command as Command, resolve: reply });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#upgrading || this.#queue.length === 0) return this.#settle();
    this.#scheduled = true;
    // setImmediate, not a microtask: it runs after every socket read of this turn of the event loop,
    // so commands from many connections share one batch, and the next batch waits for the next turn.
    setImmediate(() => {
      this.#scheduled = false;
      try {
        this.#drain();
      } catch (err) {
        // Nothing should reach here; if something does, keep serving rather than die.
        this.#log?.error({ err: describeThrown(err) }, 'drain failed');
        this.#schedule();
      }
    });
  }

  /**
   * Serve one batch of what waits, by whatever version runs now; the rest in the next turn. Turns
   * alternate: first what runs no feed code (the kernel's own commands, types the version does not
   * handle) at the head of each lane, answered at once; then, in the next turn, a full batch under the
   * watchdog. Starting the watchdog is a thread, and on a busy machine a thread can wait: a $ping never
   * waits for one.
   */
  #drain(): void {
    if (this.#queue.length > 0 && !this.#upgrading) {
      // (Not ahead of the kernel's own presence notices: they belong to the moment they were queued.)
      if (this.#lightTurn && !this.#queue.has(SYSTEM_LANE) && this.#batch(true) > 0 && this.#queue.length > 0) {
        this.#lightTurn = false;
        return this.#schedule();
      }
      this.#lightTurn = true;
      this.#batch(false);
    }
    this.#schedule();
  }

  /** Once closed: say so when nothing waits and no upgrade runs. */
  #settle(): void {
    if (this.#idle !== null && this.#queue.length === 0 && !this.#upgrading && this.#upgrade === null && !this.#scheduled) {
      const idle = this.#idle;
      this.#idle = null;
      idle();
    }
  }

  /**
   * Serve one batch: walk the queue round-robin under one watchdog until nothing waits or the slice
   * (`batchSliceMs`, at most half the time limit, so each command has at least half of it) is used.
   *
   * Inside the watchdog nothing of the kernel changes: each step computes its outcome from the state
   * the previous step produced, and a step counts only once it is in `done`. The watchdog may terminate
   * anything at any moment (even after the last step, when the deadline passed during it), so
   * everything that changes the kernel happens after: remove the served commands from the queue,
   * commit the state of the last completed step, then the effects (events, bindings, replies) in
   * order. A handler that runs past the limit is terminated; its command gets E_HANDLER_TIMEOUT, the
   * commands before it keep their results, the ones after it are served next.
   */
  #batch(lightOnly: boolean): number {
    const heapMb = this.#ceiling.inUse();
    this.#reloadPastMark(heapMb);
    const { release, state: start } = this.#cell;
    const done: Done[] = [];
    const limit = this.#limits.handlerTimeoutMs;
    const slice = Math.min(this.#limits.batchSliceMs, limit / 2);
    let stopTaking = performance.now() + slice;
    const cursor = this.#queue.cursor();
    const ceiling = this.#ceiling.batch(release, heapMb);
    // past the second heap mark no feed code runs: each feed command is refused without a watchdog
    const halt = (this.#halt = ceiling.halt);
    const breaker = this.#breaker;
    breaker.begin(release.hash, performance.now());
    let current: Waiting | undefined; // the command being served when the watchdog fires
    let failure: unknown = null;
    const sliceUsed = () => done.length > 0 && performance.now() > stopTaking;
    // What the transport writes for the batch's events runs after it, outside the slice: a batch takes
    // no more commands once they send as much as one command may (ten commands of 160 events to 600
    // connections, each within the bounds, held the process 2.3 s in one batch)
    let fanFrames = 0;
    let fanBytes = 0;
    const fanoutUsed = () => fanFrames >= this.#limits.maxFanoutFrames || fanBytes >= this.#limits.maxFanoutBytes;
    // A $since is cheap here and costly after: its events are encoded and sent once the batch is done
    // (12 ms a MiB), outside the slice. A batch answers $sinces of at most SINCE_BYTES_PER_BATCH (one
    // at least); past that their lanes wait for the next batch, the first of them going first there,
    // and the others' commands go on.
    let sinceBytes = 0;
    let deferred: Waiting | undefined;
    const counted = (w: Waiting) => {
      if (w.system === undefined && w.command.type === '$since') sinceBytes += this.#events.bytesAfter(w.command['seq'], SINCE_BYTES_PER_BATCH);
    };
    const sinceRoom = (w: Waiting) => {
      if (sinceBytes < SINCE_BYTES_PER_BATCH || w.system !== undefined || w.command.type !== '$since') return true;
      deferred ??= w;
      return false;
    };
    // Commands that run no feed code (the kernel's own, types the version does not handle, types set
    // aside by the breaker) are answered without starting the watchdog: a batch of $pings costs no thread.
    const light = (w: Waiting) => {
      if (w.system !== undefined) return false;
      const { type } = w.command;
      return type === '$ping' || type === '$since' || halt !== null || !release.feed.commands.includes(type) || breaker.refuses(type) > 0;
    };
    const take = lightOnly ? (w: Waiting) => light(w) && sinceRoom(w) : sinceRoom;
    let next = cursor.next(take);
    while (next !== undefined && light(next) && !sliceUsed()) {
      done.push(this.#step(next, release, start, new Map()));
      counted(next);
      next = sliceUsed() ? undefined : cursor.next(take);
    }
    if (next !== undefined && !sliceUsed() && !lightOnly) {
      let first: Waiting | undefined = next;
      const called = performance.now();
      try {
        runBounded(() => {
          // The slice counts from here: on a busy machine the watchdog's thread can take milliseconds
          // to start, and a batch that counted them served one command. (Never past half the limit
          // from the call: each command keeps at least the other half.)
          stopTaking = Math.min(performance.now() + slice, called + limit / 2);
          let state = start;
          const users = new Map<Conn, UserId | null>(); // bindings made earlier in this batch
          for (;;) {
            if (first === undefined && (sliceUsed() || fanoutUsed())) break;
            const w = first ?? cursor.next(sinceRoom);
            first = undefined;
            if (w === undefined) break;
            current = w;
            counted(w);
            let d = this.#step(w, release, state, users);
            if (d.state !== undefined) {
              // The memory ceiling: a command that would grow the feed past it is refused, state unchanged.
              const full = ceiling.check(state, d.state);
              if (full !== null) d = { w, version: d.version, ms: d.ms, refused: true, result: { ok: false, error: full } };
            }
            done.push(d);
            if (d.fanout) {
              fanFrames += d.fanout.frames;
              fanBytes += d.fanout.bytes;
            }
            if (d.state !== undefined) state = d.state;
            if (d.bind) users.set(d.bind.conn, d.bind.after);
          }
        }, limit);
      } catch (err) {
        failure = err;
      }
    }
    // The step that was running when the watchdog fired (or something threw): only it fails.
    const w = failure !== null && current !== undefined && done[done.length - 1]?.w !== current ? current : undefined;
    const timedOut = failure instanceof TimeoutError;
    if (w !== undefined && timedOut && w.system !== undefined && (w.timeouts ?? 0) < SYSTEM_TIMEOUT_RETRIES) {
      // A presence notice cut off by the watchdog is served again, first in its lane (the notices keep
      // their order): on a loaded machine the watchdog's wall time passes even under this trivial
      // handler, and a notice dropped here left every page showing someone online who had gone, or
      // never showing them, until it was reloaded.
      w.timeouts = (w.timeouts ?? 0) + 1;
      this.#log?.warn({ version: release.version, command: w.command.type, timeouts: w.timeouts }, 'system command ran out its time; serving it again');
    } else if (w !== undefined) {
      const type = w.command.type.slice(0, 40);
      const result = timedOut
        ? fail('E_HANDLER_TIMEOUT', `feed v${release.version} handle('${type}') ${(failure as TimeoutError).message}; the state is unchanged`)
        : fail('E_HANDLER_THREW', `internal error while serving '${type}': ${describeThrown(failure)}`);
      // (a system command is the kernel's own notice: it is never set aside)
      const aside = timedOut && w.system === undefined ? breaker.timedOut(w.command.type, performance.now()) : 0;
      if (aside > 0) {
        this.#log?.warn({ version: release.version, command: type, timeouts: breaker.after, ms: aside }, 'command type set aside: its handler keeps running out its time');
        this.#observe.circuit?.(type);
      }
      done.push({ w, version: release.version, ms: limit, result });
    }
    this.#queue.commit(cursor, done.length, deferred);
    for (const d of done) if (d.ran) breaker.finished(d.w.command.type);
    // Commit: one assignment, the state of the last step that changed it. Old states are untouched.
    for (let k = done.length - 1; k >= 0; k--) {
      const committed = done[k]!.state;
      if (committed !== undefined) {
        this.#cell = { release, state: committed };
        break;
      }
    }
    for (const d of done) {
      try {
        this.#apply(d);
      } catch (err) {
        // One broken effect (a socket, an observer) must not cost the other replies.
        this.#log?.error({ command: d.w.command.type, err: describeThrown(err) }, 'effect failed');
      }
    }
    return done.length;
  }

  /**
   * Past the heap's high-water mark, the running release's code is loaded again (at most once a
   * minute, never while an upgrade runs): what its module kept (a cache grown by every command, which
   * no ceiling on the state sees) is garbage then. Release code is pure, so nothing else changes: the
   * same release, the same state. A release that keeps nothing frees nothing, and the ceiling's
   * refusals do the rest.
   */
  #reloadPastMark(heapMb: number): void {
    if (heapMb <= this.#limits.maxHeapMb) return;
    const now = performance.now();
    if (now < this.#reloadAt || this.#upgrading || this.#upgrade !== null) return;
    this.#reloadAt = now + RELOAD_PAST_MARK_MS;
    const old = this.#cell.release;
    try {
      const fresh = loadRelease(old.source, this.#limits.loadTimeoutMs);
      if (fresh.hash !== old.hash) return;
      this.#cell = { release: fresh, state: this.#cell.state };
      this.#log?.warn({ version: old.version, release: old.hash, heapMb: Math.round(heapMb), markMb: this.#limits.maxHeapMb }, 'heap past its high-water mark: the running release loaded again, freeing what its code kept');
    } catch (err) {
      this.#log?.error({ version: old.version, err: describeThrown(err) }, 'heap past its high-water mark: loading the running release again failed; it keeps running');
    }
  }

  /** One command against `state`: run the handler and check what it returned. Changes nothing. */
  #step(w: Waiting, release: LoadedRelease, state: unknown, users: ReadonlyMap<Conn, UserId | null>): Done {
    // (no closures made here that do not escape: under tsx each named one costs a defineProperty)
    const t0 = performance.now();
    const { conn, command } = w;
    let commandBytes = -1; // as its check counted them (the journal keeps that much)
    if (w.system === undefined) {
      const kernelCommand = command.type === '$ping' || command.type === '$since';
      if (!kernelCommand && !release.feed.commands.includes(command.type))
        return finished(w, release, t0, fail('E_UNKNOWN_COMMAND', `feed v${release.version} does not handle '${command.type.slice(0, 40)}'; it handles ${release.feed.commands.join(', ')}`));
      if (!kernelCommand && this.#halt !== null) return finished(w, release, t0, { ok: false, error: this.#halt });
      const aside = kernelCommand ? 0 : this.#breaker.refuses(command.type);
      if (aside > 0) {
        const type = command.type.slice(0, 40);
        const message = `feed v${release.version} handle('${type}') ran past its time limit on ${this.#breaker.after} '${type}' commands in a row; '${type}' is set aside for ${Math.ceil(aside / 1000)} s, then tried again. Other commands are served; the state is unchanged`;
        return finished(w, release, t0, { ok: false, error: { code: 'E_CIRCUIT_OPEN', message, retryMs: aside } });
      }
      // What reaches feed code is plain data only, like the state: a decoder may hand over more
      // (msgpackr turns its extensions into typed arrays, Sets, Dates, BigInts), and a typed array or a
      // Date would give feed code what its globals keep from it (its constructor: a buffer of any size,
      // the clock). Checked here, past the cheap refusals, so a flood of junk costs no walk; kernel
      // commands too (the protocol holds every command to it).
      try {
        commandBytes = checkSent(command, 'command', 'command', Infinity);
      } catch (err) {
        return finished(w, release, t0, fail('E_BAD_COMMAND', (err as Error).message.replace(/^command: /, `command '${command.type.slice(0, 40)}': `)));
      }
      // Kernel commands read the event log, which the batch's effects extend: answer them in order there.
      if (kernelCommand) return finished(w, release, t0, { ok: true, data: null }, { late: command.type as '$ping' | '$since' });
    }
    const user = conn ? (users.has(conn) ? users.get(conn)! : conn.user) : null;
    // Frozen: release code gets them, and the journal keeps the caller, which the kernel reads again
    // later outside any time limit (the shadow run packs it, a window rollback replays under it): a
    // getter planted on it there would run then, unbounded.
    const caller: Caller = Object.freeze(w.system !== undefined ? { conn: null, user: w.system, system: true } : { conn: conn?.id ?? null, user, system: false });
    const tokens: string[] = [];
    const ctx: Context = Object.freeze({ now: this.#clock(), token: tokenInto(tokens), caller, online: this.#online });
    let outcome;
    let fanout: Done['fanout'];
    try {
      // (events bounded in count, and read once into the kernel's own array: guard.ts ownEvents)
      outcome = checkOutcome(release.feed.handle(state, command, ctx), release.version, command.type, this.#limits.maxEventsPerCommand);
      if ('state' in outcome) {
        const where = `feed v${release.version} handle('${command.type.slice(0, 40)}')`;
        const limits = this.#limits;
        // What goes on the wire must encode and be bounded (events in count too: checkOutcome):
        // checked here, before anything is committed.
        const sizes = checkSentOutcome(outcome, where, release.version, command.type, limits);
        if (outcome.events) fanout = this.#checkFanout(outcome.events, sizes, where);
        if (outcome.state !== state) this.#lineage.checkState(outcome.state, state, where, limits.maxGrowthBytes);
      }
    } catch (caught) {
      const err = thrown(caught);
      return finished(
        w,
        release,
        t0,
        err instanceof MoltError
          ? fail(err.code === 'E_VALIDATE' ? 'E_HANDLER_CONTRACT' : err.code, err.message)
          : fail('E_HANDLER_THREW', `feed v${release.version} handle('${command.type.slice(0, 40)}') ${describeThrown(err)}; the state is unchanged`),
        { ran: true },
      );
    }
    if ('error' in outcome) return finished(w, release, t0, { ok: false, error: { code: outcome.error.code, message: outcome.error.message } }, { refused: true, ran: true });
    if (outcome.state !== state) this.#lineage.retire(state, outcome.state);
    const bind = conn && outcome.bind !== undefined && outcome.bind !== user ? { conn, before: user, after: outcome.bind } : undefined;
    const d = finished(w, release, t0, { ok: true, data: outcome.reply ?? null });
    d.ran = true;
    d.served = served(command, ctx.now, caller, ctx.online, tokens, true, outcome.state !== state, release.version, commandBytes);
    if (outcome.state !== state) d.state = outcome.state;
    if (outcome.events) d.events = outcome.events;
    if (fanout) d.fanout = fanout;
    if (bind) d.bind = bind;
    return d;
  }

  /** Effects of one served command, in order: its events, its binding, its reply. */
  #apply(d: Done): void {
    if (d.events) for (const ev of d.events) this.#emit(ev, d.version);
    // A connection that closed while its command waited is not bound again. When the binding brings
    // a user online or offline, the reply waits for that presence event: the caller sees it first.
    let held = false;
    if (d.bind && this.#conns.has(d.bind.conn.id)) {
      d.bind.conn.user = d.bind.after;
      held = this.#rebind(d.bind.before, d.bind.after, () => d.w.resolve(d.result));
    }
    if (d.late === '$ping') d.result = { ok: true, data: { version: this.#cell.release.version, release: this.#cell.release.hash, seq: this.#events.seq } };
    else if (d.late === '$since') d.result = this.#events.since(d.w.command['seq'], d.w.conn?.user ?? null);
    const type = d.w.command.type;
    if (!d.result.ok) {
      const code = d.result.error.code;
      if (d.w.system !== undefined) this.#log?.warn({ version: d.version, command: type, code }, 'system command refused');
      else if (!d.refused && code !== 'E_CIRCUIT_OPEN') this.#log?.warn({ version: d.version, command: type, code }, 'command failed');
    }
    if (d.served) {
      this.#recent.push(d.served);
      if (d.served.wrote && this.#window) this.#keepWrite(d.served);
    }
    this.#observe.command?.(type, d.result.ok ? 'ok' : d.refused ? 'refused' : 'error', d.ms);
    if (!held) d.w.resolve(d.result);
  }

  /**
   * What a command's events cost the transport: each is written to every connection that may see it,
   * after the handler, outside the watchdog and the breaker. Bounded in frames and in bytes written
   * together: 1,000 events of 4 KB to 600 connections (2.4 GB written) held the process 2.6 s a
   * command, and at 20 commands a second one client held it for good.
   */
  #checkFanout(events: readonly FeedEvent[], sizes: readonly number[], where: string): Done['fanout'] {
    const conns = this.#conns.size;
    if (conns === 0) return undefined;
    let perUser: Map<UserId, number> | null = null;
    let frames = 0;
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const to = events[i]!.to;
      let n = conns;
      if (to) {
        if (perUser === null) {
          perUser = new Map();
          for (const conn of this.#conns.values()) if (conn.user !== null) perUser.set(conn.user, (perUser.get(conn.user) ?? 0) + 1);
        }
        n = 0;
        for (const user of new Set(to)) n += perUser.get(user) ?? 0;
      }
      frames += n;
      bytes += n * sizes[i]!;
    }
    const limits = this.#limits;
    // however many connections there are, a few events to each of them pass (a reply sends two)
    const maxFrames = Math.max(limits.maxFanoutFrames, BROADCASTS_ALWAYS * conns);
    if (frames > maxFrames) die('E_TOO_LARGE', `${where}: its events would go out as ${frames.toLocaleString('en')} frames to ${conns.toLocaleString('en')} connections; one command may send at most ${maxFrames.toLocaleString('en')}`);
    if (bytes > limits.maxFanoutBytes) die('E_TOO_LARGE', `${where}: its events would carry ${bytes.toLocaleString('en')} bytes to ${conns.toLocaleString('en')} connections together; one command may send at most ${limits.maxFanoutBytes.toLocaleString('en')}`);
    return { frames, bytes };
  }

  #emit(event: FeedEvent, version: number): void {
    const { numbered, to } = this.#events.append(event, version);
    // looked up once a connection, outside the watchdog: a list searched for each would cost every
    // connection times its length (1,000 events to 600 users each, 1,000 connections: 1.45 s held)
    const only = to && to.length > 8 ? new Set(to) : to;
    for (const conn of this.#conns.values()) {
      if (only && (conn.user === null || !(only instanceof Set ? only.has(conn.user) : only.includes(conn.user)))) continue;
      conn.listener.event(numbered);
    }
  }

  #broadcast(notice: UpgradeNotice): void {
    const ended = notice.phase === 'refused' || notice.phase === 'dry-run';
    if (ended || this.#story[0]?.upgrade !== notice.upgrade) this.#story = [];
    if (!ended) {
      const at = this.#story.findIndex((n) => n.phase === notice.phase);
      if (at >= 0) this.#story[at] = notice;
      else this.#story.push(notice);
    }
    for (const conn of this.#conns.values()) conn.listener.upgrade(notice);
  }

  /**
   * A connection moved from user `before` to `after`. When a user's first connection binds or the last
   * one goes, the feed hears of it as a system command, queued behind what is already waiting.
   * `then` runs once the last of those is served. Returns whether any was queued.
   */
  #rebind(before: UserId | null, after: UserId | null, then: () => void = () => {}): boolean {
    const changed: [UserId, boolean][] = [];
    if (before !== null) {
      const n = (this.#userConns.get(before) ?? 0) - 1;
      if (n > 0) this.#userConns.set(before, n);
      else {
        this.#userConns.delete(before);
        changed.push([before, false]);
      }
    }
    if (after !== null) {
      const n = (this.#userConns.get(after) ?? 0) + 1;
      this.#userConns.set(after, n);
      if (n === 1) changed.push([after, true]);
    }
    if (changed.length === 0) return false;
    this.#online = Object.freeze([...this.#userConns.keys()]);
    changed.forEach(([user, online], i) =>
      this.#queue.push({ conn: null, command: { type: SYSTEM_PRESENCE, online }, resolve: i === changed.length - 1 ? then : () => {}, system: user }),
    );
    return true;
  }

  // ------------------------------------------------------------------ upgrades

  /** Push a release: migrate up (or down, if it is older) to its version. */
  upgrade(source: ReleaseSource, options: UpgradeOptions = {}): Promise<UpgradeReport> {
    return this.#start({ kind: 'push', source, ...options });
  }

  /** Go back to the release that ran before the current one. */
  rollback(options: UpgradeOptions = {}): Promise<UpgradeReport> {
    return this.#start({ kind: 'rollback', ...options });
  }

  /** Cut over an upgrade that waits for it (`push --hold`). */
  cutover(): { upgrade: string } {
    const run = this.#upgrade;
    if (this.#closed) die('E_SHUTTING_DOWN', 'the server is stopping: an upgrade not yet cut over was aborted, nothing changed');
    if (!run) die('E_NOT_HELD', 'no upgrade is waiting for a cut-over; push with --hold first');
    if (!run.cutover()) {
      const { phase, upgrade } = run.status();
      // an upgrade is running: what to do depends on which (an early `molt cutover` is not told to push with --hold)
      if (!run.holds) die('E_NOT_HELD', `upgrade ${upgrade.slice(0, 8)} was not pushed with --hold: it cuts over on its own when it is ready`);
      if (run.aborting) die('E_NOT_HELD', `upgrade ${upgrade.slice(0, 8)} is not waiting for a cut-over: an abort came first, and nothing changes`);
      // asked twice (two operators): the cut-over the first asked for is under way, and this one waits for it too
      if (phase === 'cutover' || phase === 'commit') return { upgrade };
      die('E_NOT_HELD', `upgrade ${upgrade.slice(0, 8)} is not held yet (${phase}): it waits for molt cutover once it has migrated and caught up (molt status says held)`);
    }
    return { upgrade: run.id };
  }

  /**
   * Cut over a held upgrade and wait for it to end: its report says committed, or why not. Until the
   * commit, the cut-over can still be refused (a stop that comes in the same turn aborts it, E_SHUTTING_DOWN;
   * E_CUTOVER, E_DIVERGED...): the operator who asked for it is told the outcome, not that it began.
   */
  cutoverAndWait(): Promise<UpgradeReport> {
    const ended = this.#ended;
    this.cutover();
    return ended!;
  }

  /**
   * End a running or held upgrade before its cut-over: nothing changes. With `upgrade`, only the
   * upgrade of that id (one its caller named when it asked for it): one that has not started yet (its
   * request still on its way: a Ctrl-C right after \`molt push\`) is refused as soon as it arrives, and
   * another that runs meanwhile is left alone.
   */
  abort(upgrade?: string): { upgrade: string } {
    const run = this.#upgrade;
    if (this.#closed) die('E_SHUTTING_DOWN', 'the server is stopping: an upgrade not yet cut over was aborted, nothing changed');
    if (upgrade !== undefined && run?.id !== upgrade) {
      const ended = this.#history.find((h) => h.upgrade === upgrade);
      if (ended) die('E_NOT_HELD', `upgrade ${upgrade.slice(0, 8)} has already ended: ${ended.result}`);
      this.#abortAhead.add(upgrade);
      if (this.#abortAhead.size > ABORT_AHEAD) this.#abortAhead.delete(this.#abortAhead.values().next().value!);
      return { upgrade };
    }
    if (!run || !run.abort()) die('E_NOT_HELD', run ? 'the upgrade is past its cut-over, or an abort was already asked for' : 'no upgrade is running');
    return { upgrade: run.id };
  }

  /** Upgrades aborted by id before they started (their request had not arrived): refused when it does. */
  readonly #abortAhead = new Set<string>();

  async #start(request: UpgradeOptions & { kind: 'push' | 'rollback'; source?: ReleaseSource }): Promise<UpgradeReport> {
    if (this.#upgrade) die('E_BUSY', `another upgrade (${this.#upgrade.id.slice(0, 8)}) is in progress; try again when it ends, or molt abort`);
    if (this.#closed) die('E_SHUTTING_DOWN', 'the server is stopping');
    const id = request.id ?? randomUUID();
    if (request.id !== undefined && this.#history.some((h) => h.upgrade === id)) die('E_BAD_REQUEST', `upgrade ${id.slice(0, 8)} has already run: an upgrade's id names one attempt`);
    const { id: _, ...asked } = request;
    const run = new UpgradeRun(this.#host(), { ...asked, dryRun: request.dryRun ?? false }, id);
    this.#upgrade = run;
    // aborted before it arrived: refused at once, nothing changed
    if (this.#abortAhead.delete(id)) run.abort();
    let settle!: (report: UpgradeReport) => void;
    let fail!: (err: unknown) => void;
    this.#ended = new Promise<UpgradeReport>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    this.#ended.catch(() => undefined); // nobody may be waiting on it
    let report: UpgradeReport;
    try {
      report = await run.run();
    } catch (err) {
      fail(err);
      throw err;
    } finally {
      this.#upgrade = null;
      this.#ended = null;
      this.#story = [];
    }
    try {
      this.#record({ upgrade: id, at: new Date(this.#clock()).toISOString(), kind: report.kind, dryRun: report.dryRun, result: report.result, from: report.from.version, to: report.to.version, release: report.to.release, pauseMs: report.pauseMs, ...(report.error ? { error: `${report.error.code}: ${report.error.message}` } : {}), ...(report.failedAt ? { failedAt: report.failedAt } : {}) });
      this.#observe.upgrade?.(report);
      this.#schedule();
    } finally {
      settle(report);
    }
    return report;
  }

  /** What an upgrade may do to the kernel: read the cell, hold and resume commands, commit. */
  #host() {
    const kernel = this;
    const log = this.#log;
    let logId = '';
    return {
      limits: this.#limits,
      rehearsal: this.#rehearsal,
      clock: this.#clock,
      current: () => this.#cell,
      previous: () => this.#stack[this.#stack.length - 2]?.source ?? null,
      announce: (phase: string, detail: Record<string, unknown> | undefined, ms: number | undefined, head: { upgrade: string; dryRun: boolean; direction: 'up' | 'down'; from: { version: number; release: string }; to: { version: number; release: string } }) => {
        logId = head.upgrade;
        this.#broadcast({ ...head, phase: phase as UpgradeNotice['phase'], ...(ms === undefined ? {} : { ms: round(ms) }), ...(detail ? { detail } : {}) });
      },
      hold: () => {
        this.#upgrading = true;
      },
      resume: () => {
        this.#upgrading = false;
        this.#schedule();
      },
      queued: () => this.#queue.length,
      recent: () => this.#recent.list(),
      commit: (target: LoadedRelease, state: unknown, report: UpgradeReport, previous: unknown) => kernel.#commit(target, state, report, previous),
      window: () => kernel.#openWindow(),
      log: (phase: string, extra: Record<string, unknown>) => log?.info({ upgrade: logId, phase, ...extra }, `upgrade ${phase}`),
    };
  }

  /** Past the point of no return: one assignment, then tell everyone and serve what waited. */
  #commit(target: LoadedRelease, state: unknown, report: UpgradeReport, previous: unknown): void {
    const replaced = this.#cell.release;
    this.#lineage.retire(this.#cell.state, state);
    this.#cell = { release: target, state };
    this.#lastCensus = null; // it would keep the state replaced (all of it, at the first push) alive
    // a push opens a reversible window (while there is room for the state it replaced); a rollback closes it
    this.#closeWindow(report.kind === 'rollback' ? 'rollback' : 'upgrade');
    if (report.kind === 'push' && previous !== null && this.#limits.windowMs > 0) {
      const heap = v8.getHeapStatistics();
      if (heap.used_heap_size < heap.heap_size_limit * (this.#limits.heapHighWaterPercent / 100) * 0.8)
        this.#window = new ReversibleWindow(report.upgrade, { version: replaced.version, hash: replaced.hash }, previous, this.#clock(), { ms: this.#limits.windowMs, writes: this.#limits.windowWrites, bytes: this.#limits.windowBytes });
      else this.#log?.warn({ upgrade: report.upgrade }, 'no reversible window: the heap has no room to keep the state this upgrade replaced');
    }
    if (report.kind === 'rollback') this.#stack.pop();
    else this.#stack.push({ version: target.version, hash: target.hash, source: target.source });
    this.#upgrading = false; // hello must describe the new cell; the queue drains below
    this.#story = [];
    const notice: UpgradeNotice = {
      upgrade: report.upgrade, phase: 'committed', direction: report.direction, dryRun: false, from: report.from, to: report.to, ms: report.pauseMs,
      detail: { report, pauseMs: report.pauseMs, changed: report.changed },
    };
    for (const conn of this.#conns.values()) {
      try {
        conn.listener.upgrade(notice, this.welcome(conn.id));
      } catch (err) {
        this.#log?.error({ conn: conn.id, err: describeThrown(err) }, 'committed frame failed');
      }
    }
    this.#log?.info({ upgrade: report.upgrade, phase: 'committed', from: report.from.version, to: report.to.version, release: report.to.release, pauseMs: report.pauseMs, totalMs: report.totalMs, online: report.online, phases: report.phases }, 'upgrade committed');
    this.#schedule();
  }

  #record(entry: HistoryEntry): void {
    this.#history.push(entry);
    if (this.#history.length > this.#limits.historySize) this.#history.shift();
  }

  /**
   * Start the rehearsal process now and keep its mirror of the state close behind the live one (a
   * patch every mirrorSyncMs while the state changes), so an upgrade starts at once: `npm start` does
   * this; a kernel in a test starts its rehearsal at its first upgrade instead.
   */
  warm(): Promise<void> {
    if (!this.#syncTimer) {
      this.#syncTimer = setInterval(() => {
        if (this.#upgrade || this.#closed || !this.#rehearsal.running) return;
        this.#rehearsal.sync(this.#cell.state).catch((err: unknown) => this.#log?.warn({ err: describeThrown(err) }, 'mirror sync failed'));
      }, this.#limits.mirrorSyncMs);
      this.#syncTimer.unref();
    }
    return this.#rehearsal.sync(this.#cell.state).then(
      () => undefined,
      (err: unknown) => this.#log?.warn({ err: describeThrown(err) }, 'the rehearsal process did not start'),
    );
  }

  #syncTimer: NodeJS.Timeout | null = null;

  /** Make the last upgrade permanent: its reversible window closes (rollback then goes through down). */
  permanent(): { upgrade: string } {
    const w = this.#openWindow();
    if (!w) {
      const committed = this.#history.some((h) => h.kind !== 'boot' && !h.dryRun && h.result === 'committed');
      die('E_NOT_HELD', committed ? 'no reversible window is open: the last upgrade is already permanent' : 'no reversible window is open: nothing has been upgraded since the server started');
    }
    this.#closeWindow('permanent');
    return { upgrade: w.upgrade };
  }

  #openWindow(): ReversibleWindow | null {
    if (this.#window && this.#window.expired(this.#clock())) this.#closeWindow(this.#window.closed ?? 'time');
    return this.#window;
  }

  #closeWindow(why: Closed): void {
    const w = this.#window;
    if (!w) return;
    this.#window = null;
    w.close(why);
    this.#log?.info({ upgrade: w.upgrade, closed: why }, 'reversible window closed');
  }

  #windowWrites = 0;

  /** A write served while the window is open joins it (or closes it, when a bound passed). */
  #keepWrite(write: Served): void {
    const w = this.#window!;
    if (!w.add(write, this.#clock())) return this.#closeWindow(w.closed ?? 'writes');
    // the window holds the previous state alive: let it go before the heap runs out
    if (++this.#windowWrites % 256 === 0) {
      const heap = v8.getHeapStatistics();
      if (heap.used_heap_size > heap.heap_size_limit * (this.#limits.heapHighWaterPercent / 100) * 0.9) this.#closeWindow('memory');
    }
  }

  /**
   * Stop: refuse new commands with E_SHUTTING_DOWN, abort an upgrade not yet cut over (nothing
   * changes), serve everything already waiting (after a cut-over in progress, if any), and resolve once
   * all of it is answered.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#upgrade?.abort('the server is stopping', 'E_SHUTTING_DOWN');
    if (this.#syncTimer) clearInterval(this.#syncTimer);
    this.#rehearsal.close();
    return new Promise((resolve) => {
      const previous = this.#idle;
      this.#idle = () => {
        previous?.();
        resolve();
      };
      this.#schedule();
    });
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** What an operator may ask of a push or a rollback. */
export interface UpgradeOptions {
  /** The id this attempt goes by (its report's `upgrade`), chosen by the caller: abort(id) stops this one only, even before it starts. Default: a random UUID. */
  id?: string;
  dryRun?: boolean;
  /** Leave a running release whose census() or sample() breaks (the report lists what was skipped). */
  force?: boolean;
  /** Losses accepted per kind (as the dry run showed them): a migration that drops more is refused. */
  acceptDrops?: Record<string, number>;
  /** Rollback by replaying the reversible window even when every step has down. */
  replay?: boolean;
  hold?: boolean;
  pace?: Pace | null;
  expect?: string;
}
