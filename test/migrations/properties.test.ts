/**
 * Property checks of every step in migrations/index.ts, written once for all of them: a new step gets
 * every check here without a test of its own. States of version N are made from random sequences of
 * that version's own commands (test/support/feed-model.ts), then:
 *
 *   up        the target's validate() accepts the migrated state; the declared-change check
 *             (src/kernel/migrate/checks.ts) finds nothing undeclared; the census arithmetic holds
 *             with the renames the direction declares and the drops it reports
 *   down(up)  for a step that declares itself `lossless`: exactly the state it started from, nothing
 *             dropped; for any other step: validated, declared, counted, as above
 *   down      the same checks on states made by version N+1's own commands
 *   fixture   up (and down(up)) on the frozen fixture of version N, down on that of N+1, where they exist
 *   pipeline  the kernel's sliced pipeline (src/kernel/migrate/pipeline.ts), fed commands served while
 *             it runs and catching up with them, builds exactly what runDirection builds from the
 *             final state, both ways
 *
 * Seeded (MOLT_FC_SEED, MOLT_FC_RUNS override), so a failure is reproducible; fast-check shrinks it to
 * the shortest list of commands that still fails, and the failure prints those commands.
 */
import fc from 'fast-check';
import { freeze } from 'immer';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { v1ToV2 } from '../../migrations/001-v1-to-v2.ts';
import type { Changes, Collection, Direction, FeedVersion, Key, Migration, Shape } from '../../src/contract.ts';
import { direction, runDirection } from '../../src/feed/lib/run.ts';
import { plan } from '../../src/kernel/chain.ts';
import { MoltError } from '../../src/kernel/errors.ts';
import { show } from '../../src/kernel/guard.ts';
import { checkDeclared } from '../../src/kernel/migrate/checks.ts';
import { Pipeline } from '../../src/kernel/migrate/pipeline.ts';
import { checkCensusInvariants } from '../../src/kernel/migrate/verify.ts';
import { WRITES, actions, Model } from '../support/feed-model.ts';

const SEED = Number(process.env['MOLT_FC_SEED'] ?? 8_2025);
const RUNS = Number(process.env['MOLT_FC_RUNS'] ?? 100);
const NOW = 1_760_000_000_000;
const TIMEOUT = 120_000;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every version a step names, imported by number: src/feed/vN/index.ts. */
const feeds = new Map<number, FeedVersion>();
for (const m of migrations)
  for (const v of [m.from, m.to]) if (!feeds.has(v)) feeds.set(v, (await import(pathToFileURL(path.join(ROOT, 'src/feed', `v${v}`, 'index.ts')).href)) as FeedVersion);

interface Case {
  readonly step: Migration;
  /** The step with the shapes it runs with filled in (the step's own, else the versions' exports). */
  readonly run: Migration;
  readonly label: string;
  readonly from: FeedVersion;
  readonly to: FeedVersion;
  readonly shapes: { readonly from: Shape; readonly to: Shape } | null;
}

function caseOf(step: Migration): Case {
  const from = feeds.get(step.from)!;
  const to = feeds.get(step.to)!;
  const f = step.shapes?.from ?? from.shape;
  const t = step.shapes?.to ?? to.shape;
  const shapes = f && t ? { from: f, to: t } : null;
  return { step, run: shapes ? { ...step, shapes } : step, label: `${step.from}->${step.to}`, from, to, shapes };
}

// ---------------------------------------------------------------- the checks

interface Ends {
  label: string;
  source: FeedVersion;
  target: FeedVersion;
  sourceShape?: Shape | undefined;
  targetShape?: Shape | undefined;
  direction: Direction;
}

function ends(c: Case, dir: 'up' | 'down'): Ends {
  const up = dir === 'up';
  return {
    label: up ? c.label : `${c.to.version}->${c.from.version}`,
    source: up ? c.from : c.to,
    target: up ? c.to : c.from,
    sourceShape: up ? c.shapes?.from : c.shapes?.to,
    targetShape: up ? c.shapes?.to : c.shapes?.from,
    direction: direction(c.step, dir)!,
  };
}

function renames(changes: Changes | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [kind, change] of Object.entries(changes ?? {})) if (typeof change.rename === 'string') out[kind] = change.rename;
  return out;
}

/** Run one direction on `before` and check what the kernel checks; returns the migrated state. */
function migrateChecked(c: Case, dir: 'up' | 'down', before: unknown): { state: unknown; dropped: Record<string, number> } {
  const e = ends(c, dir);
  const out = runDirection(c.run, dir, before, { now: NOW });
  const state = freeze(out.state, true);
  const dropped = { ...(out.dropped ?? {}) };
  const problems = e.target.validate(state);
  if (problems.length > 0) throw new Error(`migration ${e.label}: feed v${e.target.version} validate() rejected the migrated state: ${problems.slice(0, 3).join('; ')}`);
  if (e.sourceShape && e.targetShape) checkDeclared(e.label, e.direction.changes, { shape: e.sourceShape, state: before }, { shape: e.targetShape, state });
  checkCensusInvariants({ ...e.source.census(before) }, { ...e.target.census(state) }, dropped, renames(e.direction.changes));
  return { state, dropped };
}

/** Where two plain values first differ: a path ('' for the values themselves) and both sides. */
function firstDifference(a: unknown, b: unknown, at = ''): { at: string; a: unknown; b: unknown } | null {
  if (Object.is(a, b)) return null;
  const objects = typeof a === 'object' && typeof b === 'object' && a !== null && b !== null;
  if (!objects || Array.isArray(a) !== Array.isArray(b)) return { at, a, b };
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return { at: `${at}.${k}`, a: (a as Record<string, unknown>)[k], b: undefined };
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], Array.isArray(a) ? `${at}[${k}]` : `${at}.${k}`);
    if (d) return d;
  }
  for (const k of kb) if (!Object.hasOwn(a, k)) return { at: `${at}.${k}`, a: undefined, b: (b as Record<string, unknown>)[k] };
  return null;
}

function entries(c: Collection, value: unknown): Map<Key, unknown> {
  const out = new Map<Key, unknown>();
  let cursor: unknown = null;
  do {
    const r = c.read(value, cursor, 4096);
    r.keys.forEach((k, i) => out.set(k, r.values[i]));
    cursor = r.next;
  } while (cursor !== null);
  return out;
}

/** How state `b` differs from state `a`, entity by entity where the shape says, else by path; null if equal. */
function stateDifference(shape: Shape | undefined, a: unknown, b: unknown): string | null {
  for (const [kind, c] of Object.entries(shape ?? {})) {
    const ea = entries(c, c.get(a));
    const eb = entries(c, c.get(b));
    for (const key of new Set([...ea.keys(), ...eb.keys()])) {
      const d = firstDifference(ea.get(key), eb.get(key));
      if (d) return `${kind}: ${c.name(key, ea.get(key) ?? eb.get(key))}${d.at ? ` ${d.at.replace(/^\./, '')}` : ''} was ${show(d.a)}, is ${show(d.b)}`;
    }
  }
  const d = firstDifference(a, b);
  return d ? `state${d.at} was ${show(d.a)}, is ${show(d.b)}` : null;
}

const nonZero = (dropped: Record<string, number>) => Object.fromEntries(Object.entries(dropped).filter(([, n]) => n !== 0));

/** Run `check`; when it fails, say which commands made the state it failed on. */
function explain(model: Model, check: () => void): void {
  try {
    check();
  } catch (err) {
    const message = err instanceof MoltError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    throw new Error(`${message}\n  on the state of feed v${model.feed.version} these commands made:\n${model.log.map((l) => `    ${l}`).join('\n') || '    (none: the empty feed)'}`);
  }
}

// ---------------------------------------------------------------- the properties

/** up: validated, nothing undeclared, the census holds. */
function upProperty(c: Case) {
  return fc.property(actions(), (list) => {
    const model = new Model(c.from).play(list);
    explain(model, () => void migrateChecked(c, 'up', model.state));
  });
}

/** down(up(s)): s itself for a lossless step; otherwise validated, declared and counted. */
function roundTripProperty(c: Case) {
  return fc.property(actions(), (list) => {
    const model = new Model(c.from).play(list);
    explain(model, () => {
      const up = migrateChecked(c, 'up', model.state);
      const back = migrateChecked(c, 'down', up.state);
      if (!c.step.lossless) return;
      const d = stateDifference(c.shapes?.from, model.state, back.state);
      if (d !== null) throw new Error(`migration ${c.label} declares itself lossless, but down(up(s)) is not s: ${d}`);
      if (Object.keys(nonZero(back.dropped)).length > 0) throw new Error(`migration ${c.label} declares itself lossless, but down(up(s)) declares drops: ${show(back.dropped)}`);
    });
  });
}

/** down on the target version's own states: validated, declared and counted. */
function downProperty(c: Case) {
  return fc.property(actions(), (list) => {
    const model = new Model(c.to).play(list);
    explain(model, () => void migrateChecked(c, 'down', model.state));
  });
}

/**
 * The kernel's pipeline: a first pass in slices of random sizes over a snapshot while commands go on
 * being served, then catching up twice; the result is what runDirection builds from the final state.
 */
function pipelineProperty(c: Case, dir: 'up' | 'down') {
  const slices = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 });
  return fc.property(actions(), actions(12), actions(12), slices, fc.nat(8), (first, during, after, sizes, at) => {
    const e = ends(c, dir);
    const model = new Model(e.source).play(first);
    explain(model, () => {
      const steps = dir === 'up' ? plan([c.run], c.from.version, c.to.version) : plan([c.run], c.to.version, c.from.version);
      const shapes = { [c.from.version]: c.shapes?.from, [c.to.version]: c.shapes?.to };
      // the owner release is only handed back by the pipeline (Pipeline.owner); nothing here reads it
      const p = new Pipeline({ owner: undefined as never, steps, direction: dir }, model.state, NOW, { ms: 10_000, shapes });
      let i = 0;
      if (p.online) {
        model.log.push(`  -- the pipeline reads the state above; while it runs its first pass in slices of ${sizes.join(', ')}:`);
        while (i < at && p.slice(sizes[i % sizes.length]!) > 0) i++;
        model.play(during);
        while (p.slice(sizes[i++ % sizes.length]!) > 0);
        p.catchUp(model.state);
        model.log.push('  -- caught up; then:');
        model.play(after);
        p.catchUp(model.state);
      } else p.runAll();
      const got = p.result();
      const want = runDirection(c.run, dir, model.state, { now: NOW });
      const d = stateDifference(e.targetShape, want.state, got.state);
      if (d !== null) throw new Error(`migration ${e.label}: the kernel's pipeline built a state that differs from runDirection's: ${d} (runDirection's first)`);
      expect(nonZero(got.dropped), `migration ${e.label}: the pipeline's drops`).toEqual(nonZero(want.dropped ?? {}));
    });
  });
}

// the report carries the error, and so the commands that made the failing state
const params = { seed: SEED, numRuns: RUNS, includeErrorInReport: true };

/** The frozen fixture of version `v` (test/fixtures/vN.state.json), deep-frozen as the kernel holds states; null if none. */
function fixture(v: number): unknown {
  const file = path.join(ROOT, 'test/fixtures', `v${v}.state.json`);
  return existsSync(file) ? freeze(JSON.parse(readFileSync(file, 'utf8')), true) : null;
}

// ---------------------------------------------------------------- every step in the chain

const cases = migrations.map(caseOf);

describe.each(cases.map((c) => [c.label, c] as const))('migration %s, on states made by random commands', (_label, c) => {
  it('up: the target validates the result, every change is declared, the census holds', () => {
    fc.assert(upProperty(c), params);
  }, TIMEOUT);

  it.runIf(c.step.down !== undefined)(c.step.lossless ? 'down(up(s)) is exactly s, nothing dropped (the step declares itself lossless)' : 'down(up(s)): validated, declared, counted (the step is not lossless)', () => {
    fc.assert(roundTripProperty(c), params);
  }, TIMEOUT);

  it.runIf(c.step.down !== undefined)('down, on states the newer version made: validated, declared, counted', () => {
    fc.assert(downProperty(c), params);
  }, TIMEOUT);

  it.runIf(fixture(c.from.version) !== null)(`on the frozen fixture of v${c.from.version}: up validated, declared, counted${c.step.lossless ? ', and down(up) gives the fixture back' : ''}`, () => {
    const before = fixture(c.from.version);
    const up = migrateChecked(c, 'up', before);
    if (c.step.down === undefined) return;
    const back = migrateChecked(c, 'down', up.state);
    if (c.step.lossless) {
      expect(stateDifference(c.shapes?.from, before, back.state)).toBeNull();
      expect(nonZero(back.dropped)).toEqual({});
    }
  });

  it.runIf(c.step.down !== undefined && fixture(c.to.version) !== null)(`on the frozen fixture of v${c.to.version}: down validated, declared, counted`, () => {
    migrateChecked(c, 'down', fixture(c.to.version));
  });

  it('the kernel pipeline, sliced and catching up with commands served meanwhile, builds exactly what runDirection builds: up', () => {
    fc.assert(pipelineProperty(c, 'up'), params);
  }, TIMEOUT);

  it.runIf(c.step.down !== undefined)('the same pipeline property: down', () => {
    fc.assert(pipelineProperty(c, 'down'), params);
  }, TIMEOUT);
});

describe('the random commands', () => {
  it.each([...feeds.keys()])('make real states of v%s: every command that writes is accepted in some run', (v) => {
    const feed = feeds.get(v)!;
    const seen = new Set<string>();
    let posts = 0;
    for (const list of fc.sample(actions(), { seed: SEED, numRuns: 30 })) {
      const model = new Model(feed).play(list);
      for (const t of model.accepted) seen.add(t);
      posts = Math.max(posts, feed.census(model.state)['posts'] ?? 0);
    }
    expect(feed.commands.filter((t) => WRITES.has(t) && !seen.has(t))).toEqual([]);
    expect(posts).toBeGreaterThan(3);
  });
});

// ---------------------------------------------------------------- the properties catch broken steps

describe('a broken step fails the properties, shrunk to the commands that show it', () => {
  const react = (v1ToV2.up as Direction).each!['posts']!;
  const broken = (up: Partial<Direction>, extra: Partial<Migration> = {}): Case => caseOf({ ...v1ToV2, ...extra, up: { ...(v1ToV2.up as Direction), ...up } });
  /** The commands a failure printed. */
  const commandsIn = (message: string) => message.split('\n').filter((l) => l.startsWith('    '));

  it('a step that truncates every post to 10 characters: one person joins and posts more than 10 characters', () => {
    const c = broken({ each: { posts: (p: { text: string }, ctx) => ({ ...(react(p, ctx) as object), text: p.text.slice(0, 10) }) } });
    const result = fc.check(upProperty(c), { ...params, numRuns: 200 });
    expect(result.failed).toBe(true);
    const message = (result.errorInstance as Error).message;
    expect(message).toMatch(/^E_UNDECLARED: migration 1->2: post p1: text was "[^"]{11,}", is "[^"]{10}", but posts.text is not declared changed/);
    const commands = commandsIn(message);
    expect(commands).toHaveLength(2);
    expect(commands[0]).toMatch(/^ {4}anyone: join \{"handle":"\w+"\}$/);
    expect(commands[1]).toMatch(/^ {4}u1: post \{"text":".{11,}"\}$/);
    // fast-check's own report carries the seed to replay it and the same message
    expect(fc.defaultReportMessage(result)).toMatch(/seed: 82025[\s\S]*Counterexample[\s\S]*Shrunk \d+ time[\s\S]*not declared changed[\s\S]*u1: post/);
  });

  it('a step that declares itself lossless while down reverses the order of likes: two likes on one post', () => {
    const down = v1ToV2.down as Direction;
    const reversing: Direction = { ...down, each: { posts: (p: object, ctx) => { const v1 = down.each!['posts']!(p, ctx) as { likes: string[] }; return { ...v1, likes: [...v1.likes].reverse() }; } } };
    const c = caseOf({ ...v1ToV2, lossless: true, down: reversing });
    const result = fc.check(roundTripProperty(c), { ...params, numRuns: 200 });
    expect(result.failed).toBe(true);
    const message = (result.errorInstance as Error).message;
    expect(message).toMatch(/^migration 1->2 declares itself lossless, but down\(up\(s\)\) is not s: posts: post p1 likes\[0\] was "u\d", is "u\d"/);
    const commands = commandsIn(message);
    expect(commands.filter((l) => / like /.test(l))).toHaveLength(2);
    expect(commands.every((l) => !l.includes('refused'))).toBe(true);
  });

  it('a step whose each is not a function of the entity alone (it numbers what it maps): the pipeline differs', () => {
    let seen = 0;
    const c = broken(
      { changes: { ...(v1ToV2.up as Direction).changes, posts: { remove: ['likes'], add: ['reactions', 'order'] } }, each: { posts: (p, ctx) => ({ ...(react(p, ctx) as object), order: seen++ }) } },
    );
    const result = fc.check(pipelineProperty(c, 'up'), { ...params, numRuns: 200 });
    expect(result.failed).toBe(true);
    expect((result.errorInstance as Error).message).toMatch(/^migration 1->2: the kernel's pipeline built a state that differs from runDirection's: posts: post p\w+ order was \d+, is \d+/);
  });
});
