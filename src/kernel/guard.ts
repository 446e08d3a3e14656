import type { Accepted, FeedVersion, Migration, MigrationResult, Outcome, Refusal } from '../contract.ts';
import { die } from './errors.ts';

/**
 * Checks on everything release code hands back to the kernel. Release code is another realm and may be
 * wrong in any way, so nothing it returns is trusted: a bad shape fails loudly, naming the version, the
 * call and what came back, and the kernel keeps its old state.
 */

/** A short, safe rendering of any value for an error message. */
export function show(value: unknown, depth = 0): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object') return String(value);
  if (typeof (value as { then?: unknown }).then === 'function') return 'a Promise';
  if (Array.isArray(value)) return depth > 0 ? `[…${value.length}]` : `[${value.slice(0, 3).map((v) => show(v, 1)).join(', ')}${value.length > 3 ? ', …' : ''}]`;
  const keys = Object.keys(value);
  if (depth > 0) return `{${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', …' : ''}}`;
  return `{${keys.slice(0, 5).map((k) => `${k}: ${show((value as Record<string, unknown>)[k], 1)}`).join(', ')}${keys.length > 5 ? ', …' : ''}}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const FEED_FUNCTIONS = ['init', 'handle', 'validate', 'census', 'sample'] as const;

/** The release's exports: {feed: FeedVersion, migrations: Migration[]}. */
export function checkExports(exports: unknown): { feed: FeedVersion; migrations: readonly Migration[] } {
  if (!isRecord(exports)) die('E_RELEASE_EXPORTS', `release exports ${show(exports)}; expected {feed, migrations}`);
  const { feed, migrations } = exports;
  if (!isRecord(feed)) die('E_RELEASE_EXPORTS', `release exports feed = ${show(feed)}; expected a feed version module`);
  const version = feed['version'];
  if (!Number.isSafeInteger(version) || (version as number) < 1)
    die('E_RELEASE_EXPORTS', `feed exports version = ${show(version)}; expected a positive integer`);
  for (const name of FEED_FUNCTIONS)
    if (typeof feed[name] !== 'function')
      die('E_RELEASE_EXPORTS', `feed v${version} exports ${name} = ${show(feed[name])}; expected a function`);
  const commands = feed['commands'];
  if (!Array.isArray(commands) || !commands.every((c) => typeof c === 'string' && c.length > 0 && !c.startsWith('$')))
    die('E_RELEASE_EXPORTS', `feed v${version} exports commands = ${show(commands)}; expected an array of command names (not starting with $)`);
  if (!Array.isArray(migrations)) die('E_RELEASE_EXPORTS', `release exports migrations = ${show(migrations)}; expected an array`);
  migrations.forEach((m, i) => {
    if (!isRecord(m) || !Number.isSafeInteger(m['from']) || !Number.isSafeInteger(m['to']) || m['up'] === undefined)
      die('E_RELEASE_EXPORTS', `migrations[${i}] is ${show(m)}; expected {from, to, up, down?}`);
    for (const dir of ['up', 'down'] as const) {
      const d = m[dir];
      if (d === undefined && dir === 'down') continue;
      const where = `migration ${m['from']}->${m['to']} ${dir}`;
      if (typeof d === 'function') continue;
      if (!isRecord(d)) die('E_RELEASE_EXPORTS', `${where} is ${show(d)}; expected a function, {describe, whole} or {describe, changes, each, finish}`);
      if (typeof d['describe'] !== 'string') die('E_RELEASE_EXPORTS', `${where} has describe = ${show(d['describe'])}; expected one sentence`);
      const whole = typeof d['whole'] === 'function';
      const each = isRecord(d['each']) && Object.values(d['each']).every((f) => typeof f === 'function') && typeof d['finish'] === 'function';
      if (whole === each) die('E_RELEASE_EXPORTS', `${where} needs either whole(state) or each: {kind: fn} with finish(state, mapped)`);
      if (d['changes'] !== undefined && !isRecord(d['changes'])) die('E_RELEASE_EXPORTS', `${where} has changes = ${show(d['changes'])}; expected {kind: {add, remove, change, rename, drops, ...}}`);
    }
  });
  return { feed: feed as unknown as FeedVersion, migrations: migrations as Migration[] };
}

/** Check what handle() returned against the Outcome union. */
export function checkOutcome(out: unknown, version: number, type: string): Outcome<unknown> {
  const where = `feed v${version} handle('${type}') returned ${show(out)}`;
  const expected = 'expected {state, reply?, events?, bind?} or {error: {code, message}}';
  if (!isRecord(out) || typeof out['then'] === 'function') die('E_HANDLER_CONTRACT', `${where}; ${expected}`);
  if ('error' in out) {
    const e = out['error'];
    if (!isRecord(e) || typeof e['code'] !== 'string' || typeof e['message'] !== 'string')
      die('E_HANDLER_CONTRACT', `${where}; a refusal needs error: {code: string, message: string}`);
    return out as unknown as Refusal;
  }
  if (!('state' in out)) die('E_HANDLER_CONTRACT', `${where}; ${expected}`);
  if (typeof out['state'] !== 'object' || out['state'] === null)
    die('E_HANDLER_CONTRACT', `${where}; state must be an object`);
  const events = out['events'];
  if (events !== undefined) {
    if (!Array.isArray(events)) die('E_HANDLER_CONTRACT', `${where}; events must be an array`);
    for (const ev of events)
      if (!isRecord(ev) || typeof ev['type'] !== 'string')
        die('E_HANDLER_CONTRACT', `${where}; every event needs a string type, got ${show(ev)}`);
      else if (ev['to'] !== undefined && !(Array.isArray(ev['to']) && ev['to'].every((u) => typeof u === 'string')))
        die('E_HANDLER_CONTRACT', `${where}; event.to must be an array of user ids`);
  }
  const bind = out['bind'];
  if (bind !== undefined && bind !== null && typeof bind !== 'string')
    die('E_HANDLER_CONTRACT', `${where}; bind must be a user id or null`);
  return out as unknown as Accepted<unknown>;
}

/** Check what a migration step returned: {state, dropped?}. */
export function checkMigrationResult(out: unknown, step: string): MigrationResult<unknown> {
  const where = `migration ${step} returned ${show(out)}`;
  if (!isRecord(out) || typeof out['then'] === 'function' || typeof out['state'] !== 'object' || out['state'] === null)
    die('E_MIGRATION_CONTRACT', `${where}; expected {state, dropped?}`);
  const dropped = out['dropped'];
  if (dropped !== undefined) {
    if (!isRecord(dropped)) die('E_MIGRATION_CONTRACT', `${where}; dropped must be {kind: count}`);
    for (const [kind, n] of Object.entries(dropped))
      if (!Number.isSafeInteger(n) || (n as number) < 0)
        die('E_MIGRATION_CONTRACT', `${where}; dropped.${kind} = ${show(n)}, expected a count >= 0`);
  }
  return out as unknown as MigrationResult<unknown>;
}

/** validate() must return an array of strings. */
export function checkProblems(out: unknown, version: number): readonly string[] {
  if (!Array.isArray(out) || !out.every((p) => typeof p === 'string'))
    die('E_VALIDATE', `feed v${version} validate() returned ${show(out)}; expected an array of problems (strings)`);
  return out;
}

/** census() must return {kind: count}. */
export function checkCensus(out: unknown, version: number): Record<string, number> {
  if (!isRecord(out) || !Object.values(out).every((n) => Number.isSafeInteger(n) && (n as number) >= 0))
    die('E_RELEASE_EXPORTS', `feed v${version} census() returned ${show(out)}; expected {kind: count}`);
  return { ...(out as Record<string, number>) };
}
