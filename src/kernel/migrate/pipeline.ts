/**
 * The steps of one upgrade (1->2->3, or 3->2->1 on the way back), as one pipeline over a frozen state:
 * the first pass runs step by step in slices, each step reading the state the previous one built; a
 * catch-up runs the chain again on a newer live state, re-migrating only what changed at each step.
 *
 * Every call into release code is bounded by the sandbox's watchdog and its failures are named:
 * E_MIGRATION_THREW, E_MIGRATION_TIMEOUT, E_MIGRATION_CONTRACT. The pipeline is the same code in the
 * live process and in the rehearsal process, so both build the same state from the same input.
 */
import type { Changes, Migration, MigrationResult, Shape } from '../../contract.ts';
import { plan as planSteps, type Step } from '../chain.ts';
import { MoltError, die } from '../errors.ts';
import { checkMigrationResult } from '../guard.ts';
import type { LoadedRelease } from '../release.ts';
import { TimeoutError, describeThrown, runBounded } from '../sandbox.ts';
import { Runner, directionOf, type KindProgress, type MapBack, type SliceObserver } from './runner.ts';
import { streamOf, type Built } from './digest.ts';

/** A step as an observer of its first pass sees it: its place in the pipeline, shapes and changes. */
export interface ObservedStep {
  readonly label: string;
  /** Its place in the pipeline (0: the step that reads the pipeline's input). */
  readonly index: number;
  readonly changes: Changes | undefined;
  readonly source?: Shape | undefined;
  readonly target?: Shape | undefined;
  /** Run `fn` (which calls release code: the collections) within the time limit, naming the step. */
  bounded<T>(fn: () => T): T;
  /** The way back for a kind this step maps, when it declares itself lossless (roundTrip). */
  back(kind: string): MapBack | null;
}

export interface Plan {
  /** The release whose migrations are used: the higher version of the two knows both shapes. */
  owner: LoadedRelease;
  steps: Step[];
  direction: 'up' | 'down';
}

export function plan(current: LoadedRelease, target: LoadedRelease): Plan {
  if (target.hash === current.hash) die('E_SAME_VERSION', `release ${target.hash.slice(0, 12)} (v${target.version}) is already running`);
  const direction = target.version >= current.version ? 'up' : 'down';
  const owner = direction === 'up' ? target : current;
  return { owner, steps: planSteps(owner.migrations, current.version, target.version), direction };
}

/**
 * A migration's release code run bounded by `ms`: past it E_MIGRATION_TIMEOUT, a throw
 * E_MIGRATION_THREW, each naming `where` (a kernel refusal passes as it is).
 */
export function migrationCall<T>(where: string, fn: () => T, ms: number): T {
  try {
    return runBounded(fn, ms);
  } catch (err) {
    if (err instanceof MoltError) throw err;
    if (err instanceof TimeoutError) die('E_MIGRATION_TIMEOUT', `${where} ${err.message}; nothing changed`);
    die('E_MIGRATION_THREW', `${where} ${describeThrown(err)}; nothing changed`);
  }
}

/** The shapes a step's direction reads and builds: the step's own, else the versions' exports. */
function shapesOf(step: Step, versions: { from?: Shape; to?: Shape }): [Shape | undefined, Shape | undefined] {
  const shapes = (step.migration as Migration).shapes;
  const from = shapes?.from ?? versions.from;
  const to = shapes?.to ?? versions.to;
  return step.direction === 'up' ? [from, to] : [to, from];
}

interface Stage {
  readonly step: Step;
  /** The shapes this step's direction reads and builds (undefined when nobody declares them). */
  source?: Shape | undefined;
  target?: Shape | undefined;
  runner: Runner | null;
  input: unknown;
  output: unknown;
  dropped: Record<string, number>;
}

export interface PipelineOptions {
  /** Shapes of the versions at each end and in between, by version number (exports of the releases). */
  shapes?: Readonly<Record<number, Shape | undefined>>;
  /** Per-call time limit, ms. */
  ms: number;
  /**
   * Map each entity a lossless step rewrites back through its other direction, and refuse the step if
   * it does not come back as it was (the rehearsal does; the live process follows what passed).
   */
  roundTrip?: boolean;
}

export class Pipeline {
  /** Every step maps entities (so the pipeline can catch up); false when any is a whole-state step. */
  readonly online: boolean;
  readonly #stages: Stage[];
  readonly #owner: LoadedRelease;
  #ms: number;
  readonly #shapes: Readonly<Record<number, Shape | undefined>>;
  #now: number;
  /** The stage whose first pass runs now (== length when the first pass is done). */
  #at = 0;

  constructor(p: Plan, state: unknown, now: number, options: PipelineOptions) {
    this.#owner = p.owner;
    this.#ms = options.ms;
    this.#now = now;
    this.#shapes = options.shapes ?? {};
    this.#roundTrip = options.roundTrip === true;
    this.#stages = p.steps.map((step) => ({ step, runner: null, input: undefined, output: undefined, dropped: {} }));
    this.online = this.#call('plan', () => p.steps.every((s) => typeof directionOf(s.migration, s.direction).whole !== 'function'));
    if (this.#stages.length > 0) this.#start(0, state);
    else this.#final = state;
  }

  #final: unknown = undefined;
  readonly #roundTrip: boolean;

  get steps(): readonly Step[] {
    return this.#stages.map((s) => s.step);
  }

  /** Entities the first pass has read so far, all steps together: the same count in both processes. */
  get position(): number {
    return this.#position;
  }

  #position = 0;

  /** Whether the first pass is done (result() may be called). */
  get mapped(): boolean {
    return this.#at >= this.#stages.length;
  }

  /** Entities per kind of the step whose first pass runs now (or the last step's, when done). */
  progress(): { step: string | null; kinds: Record<string, KindProgress> } {
    const stage = this.#stages[Math.min(this.#at, this.#stages.length - 1)];
    return { step: stage?.step.label ?? null, kinds: stage?.runner?.progress() ?? {} };
  }

  /** Catch-up rounds run so far. */
  get rounds(): number {
    return this.#stages[0]?.runner?.rounds ?? 0;
  }

  #where(stage: Stage): string {
    return `migration ${stage.step.label} (${stage.step.direction})`;
  }

  /** Run release code bounded, naming the step on failure (and never past `until`). Inside within(),
   *  its one bound holds: no watchdog of its own. */
  #call<T>(where: string, fn: () => T, ms = this.#ms): T {
    if (this.#within) return fn();
    return migrationCall(where, fn, Math.max(1, Math.round(Math.min(ms, this.#until - performance.now()))));
  }

  #start(i: number, input: unknown): void {
    const stage = this.#stages[i]!;
    stage.input = input;
    const m = stage.step.migration as Migration;
    const versions = { from: this.#shapes[m.from], to: this.#shapes[m.to] };
    stage.runner = this.#call(this.#where(stage), () => {
      const [source, target] = shapesOf(stage.step, versions);
      stage.source = source;
      stage.target = target;
      // down(up(s)) = s, which `lossless` promises, is checked going up: down may drop on the way back
      const back = this.#roundTrip && stage.step.direction === 'up' && m.lossless === true && m.down !== undefined ? directionOf(m, 'down') : null;
      return new Runner(directionOf(stage.step.migration, stage.step.direction), source, target, input, { now: this.#now }, stage.step.label, back);
    });
    this.#attach(stage);
  }

  /** Build the output of stage i from its runner (finish or whole), checked. */
  #finish(i: number): void {
    const stage = this.#stages[i]!;
    const runner = stage.runner!;
    // checked inside the time limit: what a step returns may have getters
    const { result, dropped } = this.#call(this.#where(stage), () => {
      const r = runner.result(this.#now);
      return { result: checkMigrationResult(r.out, stage.step.label), dropped: r.dropped };
    });
    const total = { ...dropped };
    for (const [kind, n] of Object.entries(result.dropped ?? {})) total[kind] = (total[kind] ?? 0) + n;
    stage.output = result.state;
    stage.dropped = total;
  }

  /**
   * Advance the first pass by about `max` entities (a whole-state step runs whole). Returns how many it
   * did; 0 once the first pass is done.
   */
  slice(max: number): number {
    if (this.mapped) return 0;
    const stage = this.#stages[this.#at]!;
    const runner = stage.runner!;
    let n = 0;
    if (runner.online) n = this.#call(this.#where(stage), () => runner.slice(max), this.#sliceMs ?? this.#ms);
    if (!runner.online || runner.mapped) {
      this.#finish(this.#at);
      this.#at++;
      if (this.#at < this.#stages.length) this.#start(this.#at, stage.output);
      n = Math.max(n, 1);
    }
    this.#position += n;
    return n;
  }

  /** Run the whole first pass at once (the rehearsal; a whole-state plan at the cut-over). */
  runAll(): void {
    while (this.slice(1 << 20) > 0);
  }

  /**
   * The live state moved on: re-migrate what changed, step by step, and rebuild every step's output.
   * Only for an online pipeline whose first pass is done. Returns the entities re-migrated.
   */
  catchUp(live: unknown): number {
    if (!this.online) die('E_MIGRATION_CONTRACT', 'a whole-state migration cannot catch up; it runs at the cut-over');
    if (this.#stages.length === 0) {
      // no migration (a same-version release): the new state is the live one
      this.#final = live;
      return 0;
    }
    let n = 0;
    let input = live;
    for (let i = 0; i < this.#stages.length; i++) {
      const stage = this.#stages[i]!;
      n += this.#call(this.#where(stage), () => stage.runner!.catchUp(input));
      stage.input = input;
      this.#finish(i);
      input = stage.output;
    }
    return n;
  }

  /** Each step's input and output (after the first pass) with its shapes and declared changes. */
  stages(): { label: string; changes: Changes | undefined; source?: Shape | undefined; target?: Shape | undefined; input: unknown; output: unknown; dropped: Record<string, number>; back(kind: string): MapBack | null }[] {
    return this.#stages.map((s) => ({
      label: s.step.label,
      changes: this.#call('changes', () => directionOf(s.step.migration, s.step.direction).changes),
      source: s.source,
      target: s.target,
      input: s.input,
      output: s.output,
      dropped: s.dropped,
      back: (kind: string) => s.runner?.mapBack(kind) ?? null,
    }));
  }

  /** The migrated state and the drops of every step, summed per kind. After the first pass. */
  result(): { state: unknown; dropped: Record<string, number> } {
    if (this.#stages.length === 0) return { state: this.#final, dropped: {} };
    const dropped: Record<string, number> = {};
    for (const s of this.#stages) for (const [kind, n] of Object.entries(s.dropped)) dropped[kind] = (dropped[kind] ?? 0) + n;
    return { state: this.#stages[this.#stages.length - 1]!.output, dropped };
  }

  /** The state the pipeline reads (the snapshot, or the last live state it caught up with). */
  get input(): unknown {
    return this.#stages[0]?.input ?? this.#final;
  }

  /** The entity at `key` in what step `index` built for `kind` (release code: bounded). */
  entity(index: number, kind: string, key: import('../../contract.ts').Key): unknown {
    const stage = this.#stages[index];
    return stage?.runner ? this.#call(this.#where(stage), () => stage.runner!.entity(kind, key)) : undefined;
  }

  /** Every collection the steps built, each with "<step>:<kind>" (digest.ts marks them by that). */
  built(): Map<object, Built> {
    const out = new Map<object, Built>();
    this.#stages.forEach((s, i) => {
      for (const c of s.runner?.collections() ?? [])
        if (typeof c.mapped === 'object' && c.mapped !== null && !out.has(c.mapped)) out.set(c.mapped, { label: streamOf(i, c.kind), base: c.base, every: c.every });
    });
    return out;
  }

  /** Ids of entities the last step rewrote, per kind (for people to see what changed). */
  rewritten(): Record<string, string[]> {
    const last = this.#stages[this.#stages.length - 1];
    return last?.runner ? this.#call('rewritten', () => last.runner!.rewritten()) : {};
  }

  /** Keys of the entities the first step rewrote, per kind. */
  firstRewritten(): Record<string, import('../../contract.ts').Key[]> {
    const first = this.#stages[0];
    return first?.runner ? this.#call('rewritten', () => first.runner!.rewrittenKeys()) : {};
  }

  /**
   * Be told of every entity the first pass rewrites, slice by slice, with its step (the rehearsal
   * checks them as they come, so its checks at the end skip them). Runs inside the slice's time limit.
   */
  observe(make: (step: ObservedStep) => SliceObserver): void {
    this.#observer = make;
    for (const stage of this.#stages) this.#attach(stage);
  }

  #observer: ((step: ObservedStep) => SliceObserver) | null = null;

  #attach(stage: Stage): void {
    if (!this.#observer || !stage.runner) return;
    const changes = this.#call('changes', () => directionOf(stage.step.migration, stage.step.direction).changes);
    const where = this.#where(stage);
    stage.runner.observer = this.#observer({ label: stage.step.label, index: this.#stages.indexOf(stage), changes, source: stage.source, target: stage.target, bounded: (fn) => this.#call(where, fn), back: (kind) => stage.runner?.mapBack(kind) ?? null });
  }

  /** Set the time the next results are built with (catch-up rounds carry the time they run at). */
  set now(now: number) {
    this.#now = now;
  }

  /** The time limit of each call into release code from here on, ms (the live process bounds its calls
   *  by what the rehearsal took for the same work: orchestrate.ts). */
  set limitMs(ms: number) {
    this.#ms = ms;
  }

  /** The time limit of the mapping part of the next slices (each's calls, over their entities), ms;
   *  null: the same as every other call's. */
  set sliceLimitMs(ms: number | null) {
    this.#sliceMs = ms;
  }

  #sliceMs: number | null = null;

  /** A time (performance.now()) no call into release code runs past, whatever its own limit: the end
   *  of the cut-over, while commands wait (Infinity: none). */
  set until(at: number) {
    this.#until = at;
  }

  #until = Infinity;

  /**
   * Run `fn`, whose calls into release code (entity(), say) share one time limit: one watchdog for
   * them all, not one a call (a watchdog is a thread started, 55-145 us; thousands of lookups took
   * seconds). `where` names what ran out of time.
   */
  within<T>(where: string, ms: number, fn: () => T): T {
    if (this.#within) return fn();
    return this.#call(where, () => {
      this.#within = true;
      try {
        return fn();
      } finally {
        this.#within = false;
      }
    }, ms);
  }

  #within = false;

  get owner(): LoadedRelease {
    return this.#owner;
  }
}
