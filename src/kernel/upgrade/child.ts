/**
 * The rehearsal process (see rehearsal.ts): a mirror of the live state, and the same pipeline and
 * checks the live process will run, run here first. Whatever release code does here can cost this
 * process only. It answers each message {id, op, ...} with {id, ok, data | error}.
 */
import v8 from 'node:v8';
import { Unpackr } from 'msgpackr';
import { MoltError, die } from '../errors.ts';
import { checkPlain, checkSentOutcome, estimateBytes, plainCopy, type SentBounds } from '../plain.ts';
import { loadRelease, type LoadedRelease, type ReleaseSource } from '../release.ts';
import { Pipeline, migrationCall, plan } from '../migrate/pipeline.ts';
import { directionOf, ownSize, type Placed } from '../migrate/runner.ts';
import { census, checkCensusInvariants, sampleOf, validate } from '../migrate/verify.ts';
import { checkDeclared, difference, entityCheck, type Compared } from '../migrate/checks.ts';
import { checkOutcome, put, show } from '../guard.ts';
import { TimeoutError, describeThrown, runBounded, thrown } from '../sandbox.ts';
import type { Served } from '../journal.ts';
import type { Collection, Key } from '../../contract.ts';
import { Builder, apply, type Patch } from './mirror.ts';
import { Walked, checkCaught, checkEntities, walkSlice } from '../migrate/walked.ts';
import { Digests, streamOf } from '../migrate/digest.ts';
import { treeOf } from '../migrate/tree.ts';
import { watchMemory } from './memwatch.ts';
import { collect } from './collect.ts';

interface Message {
  id: number;
  op: string;
  [arg: string]: unknown;
}

const unpackr = new Unpackr({ useRecords: true, sequential: true, mapsAsObjects: true, int64AsType: 'number' } as never);
/**
 * The shadow run's commands come packed without records (orchestrate.ts): a reader that has seen records
 * takes the small integers 0x40-0x7f for references to them, so they are read with a reader of their own.
 */
const plainUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' } as never);
let mirror: unknown = undefined;
let builder: Builder | null = null;
const releases = new Map<string, LoadedRelease>();
let peakHeap = 0;

// past its heap and half as much again (and 512 MB for what a big sync carries), this process ends:
// what fills that is kept outside the heap, where no limit of V8's reaches (memwatch.ts)
watchMemory((v8.getHeapStatistics().heap_size_limit / 2 ** 20) * 1.5 + 512);

interface Run {
  /** The operator chose to leave a running release whose census() or sample() breaks (--force). */
  force: boolean;
  skipped: string[];
  current: LoadedRelease;
  target: LoadedRelease;
  pipeline: Pipeline;
  ms: number;
  /** The handler's time limit in the live process, within which census() runs for every write. */
  censusMs: number;
  problemsShown: number;
  /** Renames the steps declare, old kind -> new kind, for the census invariants. */
  renames: Record<string, string>;
  /** The state the last result was built from, and that result (new nodes are checked against it). */
  lastResult: unknown;
  /** Each step's input and output at the last declared-change check (a catch-up checks what changed since). */
  checked: { input: unknown; output: unknown }[] | null;
  /** The collections the first pass's slices built and walked (walked.ts). */
  walked: Walked;
  /**
   * Whether the plain-data walks here look for keys a for-in does not show (non-enumerable, symbol).
   * Not when the live process builds this same state and checks it in full itself (online, not a dry
   * run): listing every node's keys was ~40% of this process's walks, done again there.
   */
  hidden: boolean;
  /** Entities the slices compared with the ones they replace (declared changes), per step and kind. */
  compared: Map<string, number>;
  /** Entities the slices compared, per kind (for the report). */
  comparedCounts: Record<string, number>;
  /**
   * The checks of the last slice, when they run after its answer (see the slice op): run before
   * anything else is done with this run, and what they threw is thrown then.
   */
  pending: (() => void)[];
  failed: { error: unknown } | null;
  /** Whether a slice's checks wait (set while the slice op maps). */
  defer: boolean;
  /** The first pass's position up to which the slices' checks have run, and their slowest rate, ms an entity. */
  checkedTo: number;
  checkMs: number;
  /** What this process built, as digests, when the live process builds it too and compares (digest.ts). */
  digests: Digests | null;
}
let run: Run | null = null;

/** The heap in use here, MB, with the buffers outside it (as the live process counts its own). */
function heapMb(): number {
  const h = v8.getHeapStatistics();
  if (h.used_heap_size > peakHeap) peakHeap = h.used_heap_size;
  return (h.used_heap_size + h.external_memory) / 2 ** 20;
}

/** What crosses back to the live process is plain and small: a sample over 64 KiB is summarized. */
function bounded(value: unknown, max = 64 * 1024): unknown {
  return plainCopy(value, max);
}

function shapesOf(...list: LoadedRelease[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  for (const r of list) if (r.feed.shape) out[r.version] = r.feed.shape;
  return out;
}

const ops: Record<string, (msg: Message) => unknown> = {
  hello: () => ({ pid: process.pid }),

  stats: () => ({ heapUsedMb: heapMb(), heapLimitMb: v8.getHeapStatistics().heap_size_limit / 2 ** 20, peakHeapMb: peakHeap / 2 ** 20 }),

  /** The heap after a full collection: what is kept (the memory guard, orchestrate.ts). */
  retained: () => {
    collect();
    return { heapMb: heapMb() };
  },

  sync(msg) {
    if (msg['full'] === 'begin') {
      builder = new Builder();
      mirror = undefined;
      return null;
    }
    const patches = msg['bytes'] ? (unpackr.unpack(msg['bytes'] as Uint8Array) as Patch[]) : [];
    if (msg['full'] === 'chunk') {
      if (!builder) die('E_REHEARSAL', 'a full sync chunk came without its beginning');
      builder.add(patches);
      return null;
    }
    if (msg['full'] === 'end') {
      if (!builder) die('E_REHEARSAL', 'a full sync ended without its beginning');
      mirror = builder.done();
      builder = null;
      heapMb();
      return null;
    }
    mirror = apply(mirror, patches);
    return null;
  },

  load(msg) {
    const source = msg['source'] as ReleaseSource;
    const hash = String(msg['hash'] ?? '');
    const cached = releases.get(hash);
    const release = cached ?? loadStarved(source, Number(msg['loadTimeoutMs'] ?? 2000));
    releases.set(release.hash, release);
    return { version: release.version, hash: release.hash, commands: [...release.feed.commands] };
  },

  forget(msg) {
    const keep = new Set(msg['keep'] as string[]);
    for (const hash of releases.keys()) if (!keep.has(hash)) releases.delete(hash);
    run = null;
    return null;
  },

  begin(msg) {
    const current = releases.get(String(msg['current']));
    const target = releases.get(String(msg['target']));
    if (!current || !target) die('E_REHEARSAL', 'begin before both releases were loaded');
    const ms = Number(msg['ms']);
    const p = current.hash === target.hash ? { owner: target, steps: [], direction: 'up' as const } : plan(current, target);
    const pipeline = new Pipeline(p, mirror, Number(msg['now']), { ms, shapes: shapesOf(current, target) as never, roundTrip: true });
    // A step's `changes` is the release's own object (guard.ts keeps it as given), and only the first
    // step's runner has read it yet, bounded: read here unbounded, a later step's `rename` getter that
    // never returned held the rehearsal until begin's deadline (70 s at the default limit, measured) and
    // the push was refused E_REHEARSAL naming nothing. Read under the migration's limit, each once.
    const renames: Record<string, string> = {};
    for (const step of p.steps)
      migrationCall(`migration ${step.label} (${step.direction}): reading its declared changes`, () => {
        const changes = directionOf(step.migration, step.direction).changes ?? {};
        for (const [kind, change] of Object.entries(changes)) {
          const rename = (change as { rename?: unknown } | undefined)?.rename;
          // (put: a kind named constructor is the runner's to refuse, naming it, when its step starts)
          if (typeof rename === 'string') put(renames, kind, rename);
        }
      }, ms);
    const hidden = !(msg['liveChecks'] === true && pipeline.online);
    // the live process builds this state too and compares: online and not a dry run, or a whole-state
    // step rehearsed again at the cut-over
    const digests = (msg['liveChecks'] === true && pipeline.online) || msg['digest'] === true ? new Digests() : null;
    run = { force: msg['force'] === true, skipped: [], current, target, pipeline, ms, censusMs: Number(msg['censusMs'] ?? Infinity), problemsShown: Number(msg['problemsShown'] ?? 5), renames, lastResult: null, checked: null, walked: new Walked(), hidden, compared: new Map(), comparedCounts: {}, pending: [], failed: null, defer: false, checkedTo: 0, checkMs: 0, digests };
    watchSlices(run);
    const census0 = censusBefore(run, mirror);
    // what the new state keeps is measured from here (the memory guard, when the room is tight)
    if (msg['retained'] === true) collect();
    return { online: pipeline.online, progress: pipeline.progress(), census: census0, heapMb: heapMb() };
  },

  /**
   * Map the next slice of the first pass. Its checks (plain data, declared changes) run right after the
   * answer, while the live process reads it and asks for the next one, rather than before it: the
   * next op runs them first if they have not run yet, and fails with what they found. (The live process
   * maps what the rehearsal has checked, and commits nothing until the check op has answered.) The
   * slice that ends the first pass is checked before its answer. Each answer says how far the checks
   * have run and how long they took an entity at the slowest: the live process bounds its own slices,
   * which check and digest what they map inside their time, by that and the mapping's time together.
   */
  slice(msg) {
    const r = need();
    r.pipeline.now = Number(msg['now']);
    r.defer = true;
    let n: number;
    // how long the release's code took for this slice: the live process bounds its own slices by it
    const t0 = performance.now();
    try {
      n = r.pipeline.slice(Number(msg['n']));
    } finally {
      r.defer = false;
    }
    const ms = performance.now() - t0;
    // the slice's checks, timed as one: they cost by what the step built (a post's text is digested
    // character by character), which the mapping's time does not show
    const jobs = r.pending.splice(0);
    const position = r.pipeline.position;
    if (jobs.length === 0) r.checkedTo = position;
    else
      r.pending.push(() => {
        const c0 = performance.now();
        for (const job of jobs) job();
        r.checkMs = Math.max(r.checkMs, (performance.now() - c0) / Math.max(1, n));
        r.checkedTo = position;
      });
    if (r.pipeline.mapped) settle(r);
    else if (r.pending.length > 0) setImmediate(() => settleQuietly(r));
    heapMb();
    return { n, ms, position, checked: r.checkedTo, checkMs: r.checkMs, mapped: r.pipeline.mapped, progress: r.pipeline.progress(), heapMb: heapMb() };
  },

  /** After the first pass (or a catch-up): the new state's checks, and what the report shows. */
  check(msg) {
    const r = need();
    r.pipeline.now = Number(msg['now']);
    let entities = 0;
    const mapStart = performance.now();
    if (msg['catchUp']) entities = r.pipeline.catchUp(mirror);
    else r.pipeline.runAll();
    // the round's own time (the live process bounds its catch-up by it)
    const mappedMs = performance.now() - mapStart;
    const { state, dropped } = r.pipeline.result();
    const label = `the state after ${r.pipeline.steps.map((s) => s.label).join(', ') || 'no migration'}`;
    // new nodes only: what the previous result already had, or a slice already checked, is skipped
    checkPlain(state, r.lastResult ?? r.pipeline.input, label, 'state', Infinity, { over: r.walked.over(), hidden: r.hidden });
    r.lastResult = state;
    // checked: what the live process compares with what it built (taken below)
    r.digests?.around('state', state, r.pipeline.input, r.pipeline.built());
    // the declared changes first: they name the entity, the field and both values
    const stages = r.pipeline.stages();
    const compared = collections(r, 'checking the declared changes', () => checkSteps(r, stages));
    const t0 = performance.now();
    if (msg['validate'] !== false) validate(r.target, state, r.ms, r.problemsShown);
    const validateMs = performance.now() - t0;
    const before = censusBefore(r, r.pipeline.input);
    const after = cheapCensus(r, state);
    if (before !== null) checkCensusInvariants(before, after, dropped, r.renames);
    // the operator accepts what the collections lost, not only what the steps said they dropped
    const lost = collections(r, 'counting what they lost (size)', () => uncounted(stages, dropped));
    const pick = msg['sample'] ? collections(r, 'picking an entity to show (lookup)', () => telling(r)) : undefined;
    const sample = msg['sample'] ? sampleOf(r.current, r.pipeline.input, r.target, state, r.ms, pick, (fn) => forced(r, 'sample() of the running release', fn)) : null;
    heapMb();
    return {
      compared,
      skipped: r.skipped,
      entities,
      mappedMs,
      validateMs,
      census: { before: before ?? {}, after },
      dropped: lost,
      sample: sample ? { ...sample, before: bounded(sample.before), after: bounded(sample.after) } : null,
      changed: r.pipeline.rewritten(),
      heapMb: heapMb(),
      digests: r.digests?.take() ?? null,
      // the whole state, node by node: what the collections' own code stored and found (tree.ts)
      tree: r.digests ? treeOf(state) : null,
    };
  },

  /**
   * The shadow run: the commands the live process served last, replayed with the context they ran in,
   * through the running version on the live state and through the new one on the migrated state,
   * results discarded. Where the new version throws, breaks its contract, or refuses what the old one
   * accepted, the upgrade is refused; for a same-version release, replies that differ are reported.
   */
  shadow(msg) {
    const r = need();
    const list = plainUnpackr.unpack(msg['bytes'] as Uint8Array) as Served[];
    const bound = (name: string) => (typeof msg[name] === 'number' ? (msg[name] as number) : Infinity);
    const sent = { maxReplyBytes: bound('maxReplyBytes'), maxEventBytes: bound('maxEventBytes'), maxEventsBytes: bound('maxEventsBytes'), maxEventsPerCommand: bound('maxEventsPerCommand'), maxGrowthBytes: bound('maxGrowthBytes') };
    const same = r.current.version === r.target.version;
    const knows = new Set(r.target.feed.commands);
    let before = r.pipeline.input;
    let after = r.pipeline.result().state;
    let replayed = 0;
    // counted by command type, a name the release chose: in a record, a type named constructor or
    // hasOwnProperty that the new version no longer knows threw "Cannot assign to read only property"
    // (Object.prototype is frozen) and refused an honest push as E_REHEARSAL, toString was counted as
    // "function toString() { [native code] }111", and __proto__ was not counted at all
    const dropped = new Map<string, number>();
    const differences: string[] = [];
    // One watchdog for many commands, not one per replay: starting V8's watchdog costs ~0.1 ms, which
    // was most of the shadow run (400 replays, 55-135 ms at every size). A run of commands ends itself
    // once it has used half the limit, so a command the watchdog stops ran for at least that half.
    const limit = Math.min(r.ms, 5_000);
    // Types the running version ran past the limit on here (it finished them in the live process, so its
    // module state differs here): the rest of them are not replayed, or a rollback away from a release
    // whose handler loops after its hundredth post waited out the limit on every post the window held
    // (and its deadline: E_REHEARSAL), where the operator needed it most.
    const slowOld = new Set<string>();
    let i = 0;
    let running = 'old' as 'old' | 'new';
    const step = (): void => {
      const c = list[i]!;
      const type = c.command.type;
      if (slowOld.has(type)) return;
      if (!c.caller.system && !knows.has(type)) {
        dropped.set(type, (dropped.get(type) ?? 0) + 1);
        return;
      }
      running = 'old';
      const old = replay(r.current, before, c, sent);
      if (!old.ok) return; // the running version itself no longer accepts it here: nothing to compare
      running = 'new';
      const neu = replay(r.target, after, c, sent);
      replayed++;
      if (!neu.ok) refuseShadow(r, list.length, c, `${neu.failed ? 'fails on' : 'refuses'}`, show(old.outcome), neu.error);
      before = old.state;
      after = neu.state;
      if (same && differences.length < 10) {
        const d = difference(old.reply, neu.reply, 'reply') ?? difference(old.events, neu.events, 'events');
        if (d !== null) differences.push(`${type} ${show(c.command)}: ${d} differs`);
      }
    };
    while (i < list.length) {
      try {
        runBounded(() => {
          const t0 = performance.now();
          for (; i < list.length && performance.now() - t0 < limit / 2; i++) step();
        }, limit);
      } catch (err) {
        if (!(err instanceof TimeoutError)) throw err;
        const c = list[i]!;
        if (running === 'new') refuseShadow(r, list.length, c, 'fails on', '(accepted)', `ran for more than ${Math.round(limit / 2)} ms`);
        slowOld.add(c.command.type);
        i++; // the running version itself ran too long on it here: nothing to compare
      }
    }
    const notAccepted: Record<string, number> = {};
    for (const [type, n] of dropped) put(notAccepted, type, n);
    return { commands: list.length, replayed, notAccepted, differences };
  },

  /** The live process committed the state this pipeline built: mirror it. */
  adopt() {
    const r = need();
    mirror = r.pipeline.result().state;
    return null;
  },

  end() {
    run = null;
    return null;
  },
};

/**
 * Run a call into the running release that the operator may choose to skip (--force) when it breaks:
 * its census() or sample(). Without force the failure refuses, saying how to leave the release anyway.
 */
function forced<T>(r: Run, what: string, fn: () => T): T | null {
  try {
    return fn();
  } catch (err) {
    if (!r.force) {
      if (err instanceof MoltError) throw new MoltError(err.code, `${err.message} (the running release's ${what.split(' ')[0]} breaks: push with --force to leave it anyway; the report will say what was skipped)`);
      throw err;
    }
    const note = `${what}: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300);
    if (!r.skipped.includes(note)) r.skipped.push(note);
    return null;
  }
}

/** The census of the running release on `state` (null when it breaks and the operator forced). */
function censusBefore(r: Run, state: unknown): Record<string, number> | null {
  return forced(r, 'census() of the running release (the census invariants were not checked)', () => census(r.current, state, r.ms));
}

/**
 * The first pass's slices check what they rewrite as they go (plain data, declared changes), so the
 * check at the end has only the rest to do: the first pass runs ahead of the live process, and its
 * checks with it.
 *
 * Each slice walks the collection it built against the one before it: the entities it rewrote, each
 * against the one it replaces (shared parts are skipped), and the collection's own new nodes, in one
 * walk. The check at the end then skips that collection where the step's result holds it (walked.ts,
 * checkSteps), so nothing is walked or compared twice and nothing needs remembering per entity.
 */
function watchSlices(r: Run): void {
  r.pipeline.observe((step) => {
    const where = `the state after ${step.label}`;
    const checkers = new Map<string, ReturnType<typeof entityCheck> | null>();
    const checker = (kind: string) => {
      let check = checkers.get(kind);
      if (check === undefined) {
        const change = step.changes?.[kind] ?? {};
        const source = step.source?.[kind];
        const target = step.target?.[change.rename ?? kind];
        check = source && target && !change.removed && !(target.ordered && change.reorders) ? entityCheck(step.label, kind, change, source, target, step.back(kind)) : null;
        checkers.set(kind, check);
      }
      return check;
    };
    return {
      // entities that are not objects are checked before the collection takes them (it may refuse some)
      mapped(kind, keys, before, after) {
        for (let i = 0; i < after.length; i++) if (!plainLeaf(after[i])) checkEntities(where, kind, keys, before, after, r.hidden);
      },
      placed(kind, keys, before, after, c) {
        if (r.defer) r.pending.push(() => step.bounded(() => placed(kind, keys, before, after, c)));
        else placed(kind, keys, before, after, c);
      },
      caught(kind, keys, after) {
        // digested when taken, unbounded: checked here first (what `with` stored may be other values)
        checkCaught(where, kind, keys, after, r.hidden);
        r.digests?.caught(streamOf(step.index, kind, true), keys, after);
      },
    };

    function placed(kind: string, keys: readonly Key[], before: readonly unknown[], after: readonly unknown[], c: Placed): void {
      const id = `${step.index}:${kind}`;
      const check = step.source && step.target ? checker(kind) : null;
      // walked whole only while the collection changed at exactly the keys the slice rewrote, to the
      // very entities it built: then `built` is checked, and compared, apart from what it shares with `base`
      if (r.walked.note(step.index, kind, c, () => sameEntries(c.into, c.from, c.to, keys, after))) walkSlice(where, kind, keys, before, after, c, r.hidden);
      else checkEntities(where, kind, keys, before, after, r.hidden);
      // checked: digested, in the order the step mapped them (the live process does the same)
      r.digests?.entities(streamOf(step.index, kind), keys, after);
      if (check === null) return;
      r.comparedCounts[kind] = (r.comparedCounts[kind] ?? 0) + keys.length;
      r.compared.set(id, (r.compared.get(id) ?? 0) + keys.length);
      for (let i = 0; i < keys.length; i++) check(keys[i]!, before[i], after[i]);
    }
  });
}

/** A value plain data may hold that is not an object (what checkPlain takes without a walk). */
function plainLeaf(v: unknown): boolean {
  switch (typeof v) {
    case 'object':
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v) && !(v === 0 && 1 / v < 0);
    default:
      return false;
  }
}

/**
 * Whether `to` is `from` with exactly `keys` changed, to `values`: what the slice gave the collection's
 * with(), and nothing else. (The same changed() and lookup() the check at the end would ask.)
 */
function sameEntries(into: Collection, from: unknown, to: unknown, keys: readonly Key[], values: readonly unknown[]): boolean {
  if (from === null || from === undefined || to === from) return false;
  const changed = into.changed(from, to);
  if (changed.length !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) if (changed[i] !== keys[i] || into.lookup(to, keys[i]!) !== values[i]) return false;
  return true;
}

/** Each step's input, output, shapes and declared changes, read once a check (Pipeline.stages). */
type Stages = ReturnType<Pipeline['stages']>;

/**
 * The declared-change check of every step (migrate/checks.ts), on what the step read and built. The
 * first time over everything the identity walk finds; in a catch-up round only over the entities that
 * changed since the last check, on either side. Steps whose shapes nobody declares are not checked
 * entity by entity (the census invariants still hold them).
 */
function checkSteps(r: Run, stages: Stages): Record<string, number> | null {
  // the first check counts what the slices compared through checkDeclared (their collections are
  // skipped there); a catch-up round adds what it compares to what the slices did
  const first = r.checked === null;
  const compared: Record<string, number> = first ? {} : { ...r.comparedCounts };
  let checked = Object.keys(r.comparedCounts).length > 0;
  stages.forEach((st, i) => {
    if (!st.source || !st.target) return;
    checked = true;
    const prev = r.checked?.[i];
    let only: Record<string, Key[]> | undefined;
    if (prev) {
      only = {};
      for (const [kind, source] of Object.entries(st.source)) {
        const target = st.target[st.changes?.[kind]?.rename ?? kind];
        const keys = new Set<Key>(source.changed(source.get(prev.input), source.get(st.input)));
        if (target && target.layout === source.layout) for (const k of target.changed(target.get(prev.output), target.get(st.output))) keys.add(k);
        only[kind] = [...keys];
      }
    }
    const done = new Map<string, Compared>();
    if (first)
      for (const t of r.walked.tracks()) {
        const compared = r.compared.get(`${t.step}:${t.kind}`);
        if (t.step === i && t.whole && compared !== undefined) done.set(t.kind, { before: t.base, after: t.built, compared });
      }
    const { compared: c } = checkDeclared(st.label, st.changes, { shape: st.source, state: st.input }, { shape: st.target, state: st.output }, only, done, st.back);
    for (const [kind, n] of Object.entries(c)) compared[kind] = (compared[kind] ?? 0) + n;
  });
  r.checked = stages.map((st) => ({ input: st.input, output: st.output }));
  return checked ? compared : null;
}

/**
 * The drops the steps counted, and the entities a collection that leaves no tombstone (sessions,
 * handles, users, the timeline) lost beyond them, told by its size: a step that declares it drops
 * every session but counts none (ctx.drop, finish's dropped) signed everyone out with no census to
 * notice and nothing for the operator to accept. A kind that counts fewer than it lost is counted as
 * losing them all. (Posts leave tombstones, which the census counts; a kind removed whole is the
 * census invariants'.)
 */
function uncounted(stages: Stages, dropped: Record<string, number>): Record<string, number> {
  const out = { ...dropped };
  for (const st of stages) {
    if (!st.source || !st.target) continue;
    for (const [kind, source] of Object.entries(st.source)) {
      const change = st.changes?.[kind] ?? {};
      const target = st.target[change.rename ?? kind];
      if (change.removed || !target || 'tombstone' in source || 'tombstone' in target) continue;
      // counts, as where the step started: a NaN made every loss uncounted (NaN > 0 is false)
      const lost = ownSize(source.size(source.get(st.input)), st.label, kind) - ownSize(target.size(target.get(st.output)), st.label, change.rename ?? kind) - (st.dropped[kind] ?? 0);
      if (lost > 0) out[kind] = (out[kind] ?? 0) + lost;
    }
  }
  return out;
}

/** One recorded command run again by `release` on `state`, exactly as it ran (its time, caller, tokens).
 *  The caller bounds its time (runBounded). */
function replay(release: LoadedRelease, state: unknown, c: Served, sent: SentBounds & { readonly maxEventsPerCommand: number; readonly maxGrowthBytes: number }): { ok: true; state: unknown; reply: unknown; events: unknown; outcome: unknown } | { ok: false; failed: boolean; error: string } {
  let t = 0;
  const ctx = Object.freeze({ now: c.now, caller: c.caller, online: c.online, token: () => c.tokens[t++] ?? `shadow-token-${t}` });
  try {
    const outcome = checkOutcome(release.feed.handle(state, c.command, ctx), release.version, c.command.type, sent.maxEventsPerCommand);
    if ('error' in outcome) return { ok: false, failed: false, error: `${outcome.error.code}: ${outcome.error.message}` };
    const where = `feed v${release.version} handle('${c.command.type.slice(0, 40)}')`;
    // What it sends, as the live process checks it: only the state was, and a v2 whose reply to a
    // command held NaN (or whose event held a function, or whose reply was 5 MB) passed the shadow run,
    // committed, and every such command was refused from then on (E_HANDLER_CONTRACT, E_TOO_LARGE)
    checkSentOutcome(outcome, where, release.version, c.command.type, sent);
    // and its new state as the live process holds it (lineage.ts): a tree, at most maxGrowthBytes more
    // than the state it was given. A v2 whose every write added 5 MB passed, committed, and every write
    // was refused from then on (E_TOO_LARGE)
    if (outcome.state !== state) checkPlain(outcome.state, state, where, 'state', sent.maxGrowthBytes, { tree: true });
    return { ok: true, state: outcome.state, reply: outcome.reply, events: outcome.events, outcome: { reply: outcome.reply ?? null } };
  } catch (caught) {
    const err = thrown(caught);
    // (named as a live command's failure is, kernel.ts: a reply or state that breaks the contract is the handler's)
    return { ok: false, failed: true, error: err instanceof MoltError ? `${err.code === 'E_VALIDATE' ? 'E_HANDLER_CONTRACT' : err.code}: ${err.message}` : describeThrown(err) };
  }
}

/**
 * The check at the end calls the steps' collections (a step's shapes are release code: get, size,
 * lookup, changed, name) and a lossless step's way back: bounded by the migration's limit, as every
 * other call into release code is. It ran them outside any: a size() or a lookup() that never returned
 * there held the rehearsal until the call's deadline (70 s at the default limit), and the push was
 * refused as E_REHEARSAL, naming nothing that ran.
 */
function collections<T>(r: Run, what: string, fn: () => T): T {
  return migrationCall(`the check of ${r.pipeline.steps.map((s) => s.label).join(', ')}: the steps' collections, ${what},`, fn, r.ms);
}

/** The new version fails where the running one did not: the upgrade is refused, naming the command. */
function refuseShadow(r: Run, commands: number, c: Served, what: string, old: string, error: string): never {
  die('E_SHADOW', `the shadow run replayed the last ${commands} commands: feed v${r.target.version} ${what} ${c.command.type} ${show(c.command)}, which v${r.current.version} accepted. v${r.current.version}: ${old}; v${r.target.version}: ${error}; nothing changed`);
}

/**
 * The id of an entity that shows what the migration did: among the ones the first step rewrote (the
 * newest 200), the one with the most in the fields the step declares it removes or changes (a post with
 * likes, when likes become reactions). Undefined: let the release's sample() pick.
 */
function telling(r: Run): string | undefined {
  const [first] = r.pipeline.stages();
  if (!first?.source || !first.changes) return undefined;
  let best: { id: string; weight: number } | undefined;
  for (const [kind, keys] of Object.entries(r.pipeline.firstRewritten())) {
    const change = first.changes[kind];
    const collection = first.source[kind];
    const fields = [...(change?.remove ?? []), ...(change?.change ?? [])];
    if (!collection || fields.length === 0) continue;
    const value = collection.get(first.input);
    for (const key of keys) {
      const e = collection.lookup(value, key) as Record<string, unknown> | null | undefined;
      const id = e?.['id'];
      if (typeof id !== 'string') continue;
      let weight = 0;
      for (const f of fields) weight += estimateBytes(e![f]);
      if (!best || weight > best.weight) best = { id, weight };
    }
  }
  return best?.id;
}

/** The run being rehearsed, its last slice's checks done. */
function need(): Run {
  if (!run) die('E_REHEARSAL', 'no migration is being rehearsed');
  settle(run);
  return run;
}

/**
 * This process runs at a nice value: beside processes that keep both cores busy its share of one can
 * fall to a tenth (nice 10's weight against nice 0's), and a load's limit is wall time: a probe's
 * honest push beside two busy loops was refused with E_RELEASE_LOAD (a load takes 90-140 ms here when
 * cold). A load past its limit that had less than half of it in CPU was starved, not slow: it is tried
 * once more with five times the limit. One that used the CPU it had (a top level that loops) is
 * refused at the limit as before; the live process loads the release after this one, within the limit.
 */
const STARVED_LOAD_FACTOR = 5;
function loadStarved(source: ReleaseSource, limitMs: number): LoadedRelease {
  const cpu0 = process.cpuUsage();
  try {
    return loadRelease(source, limitMs);
  } catch (err) {
    const cpu = process.cpuUsage(cpu0);
    const timedOut = err instanceof MoltError && err.message.includes(new TimeoutError(limitMs).message);
    if (!timedOut || (cpu.user + cpu.system) / 1000 >= limitMs / 2) throw err;
    return loadRelease(source, limitMs * STARVED_LOAD_FACTOR);
  }
}

/**
 * The new version's census of the new state, which must be cheap: the kernel runs it for every write
 * (the memory ceiling's counts), inside the handler's time limit. One slower than that limit would
 * make every write run out of time once committed. Timed twice before it is refused, since a
 * collection can pause one call.
 */
function cheapCensus(r: Run, state: unknown): Record<string, number> {
  let t0 = performance.now();
  const after = census(r.target, state, r.ms);
  let took = performance.now() - t0;
  if (took > r.censusMs) {
    t0 = performance.now();
    census(r.target, state, r.ms);
    took = Math.min(took, performance.now() - t0);
    if (took > r.censusMs)
      die('E_VALIDATE', `feed v${r.target.version} census() took ${Math.round(took)} ms on the new state; the kernel runs it for every write, within the handler's ${Math.round(r.censusMs)} ms limit, so every write would run out of time: census() must be cheap (keep running counts); nothing changed`);
  }
  return after;
}

/** Run the checks a slice left for after its answer; throw what they found (now, and every time after). */
function settle(r: Run): void {
  while (r.failed === null && r.pending.length > 0) {
    const job = r.pending.shift()!;
    try {
      job();
    } catch (error) {
      r.failed = { error };
      r.pending.length = 0;
    }
  }
  if (r.failed !== null) throw r.failed.error;
}

/** The same between two messages: what they found waits for the next op. */
function settleQuietly(r: Run): void {
  try {
    if (run === r) settle(r);
  } catch {
    // kept in r.failed
  }
}

process.on('message', (msg: Message) => {
  let reply: { id: number; ok: boolean; data?: unknown; error?: { code: string; message: string }; cpuMs?: number };
  try {
    const op = ops[msg.op];
    if (!op) die('E_REHEARSAL', `unknown rehearsal op ${msg.op}`);
    reply = { id: msg.id, ok: true, data: op(msg) };
  } catch (err) {
    const e = err instanceof MoltError ? err : new MoltError('E_REHEARSAL', String((err as Error)?.message ?? err).slice(0, 500));
    reply = { id: msg.id, ok: false, error: { code: e.code, message: e.message } };
  }
  // the CPU this process has used so far, all its threads (the live process counts what an upgrade
  // cost); not on the answers to a sync (a full sync of a big state is many messages): the next answer
  // counts what they used
  if (msg.op !== 'sync') {
    const cpu = process.cpuUsage();
    reply.cpuMs = (cpu.user + cpu.system) / 1000;
  }
  process.send!(reply);
});

// the live process went away: so does its rehearsal
process.on('disconnect', () => process.exit(0));
