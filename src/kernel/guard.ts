import { types } from 'node:util';
import type { Accepted, FeedEvent, FeedVersion, Migration, MigrationResult, Outcome } from '../contract.ts';
import { die, own } from './errors.ts';

/**
 * Checks on everything release code hands back to the kernel. Release code is another realm and may be
 * wrong in any way, so nothing it returns is trusted: a bad shape fails loudly, naming the version, the
 * call and what came back, and the kernel keeps its old state.
 */

/** The longest user id a handler may bind a connection to. */
export const MAX_USER_ID = 256;

/**
 * A short, safe rendering of any value for an error message. It reads through property descriptors, so
 * a getter in something release code returned is shown, never run.
 */
export function show(value: unknown, depth = 0): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object') return String(value);
  if (types.isProxy(value)) return 'a Proxy';
  if (types.isPromise(value)) return 'a Promise';
  // every index of these is a key: not listed (ownRecord)
  const exotic = indexedExotic(value);
  if (exotic !== null) return exotic;
  const field = (key: string | number): string => {
    const d = Object.getOwnPropertyDescriptor(value, key);
    return d === undefined ? 'undefined' : 'value' in d ? show(d.value, depth + 1) : 'a getter';
  };
  if (Array.isArray(value)) {
    if (depth > 0) return `[…${value.length}]`;
    const n = Math.min(3, value.length);
    const items: string[] = [];
    for (let i = 0; i < n; i++) items.push(field(i));
    return `[${items.join(', ')}${value.length > 3 ? ', …' : ''}]`;
  }
  const keys = Object.keys(value);
  if (depth > 0) return `{${keys.slice(0, 4).join(', ')}${keys.length > 4 ? ', …' : ''}}`;
  return `{${keys.slice(0, 5).map((k) => `${k}: ${field(k)}`).join(', ')}${keys.length > 5 ? ', …' : ''}}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const FEED_FUNCTIONS = ['init', 'handle', 'validate', 'census', 'sample'] as const;
const { bind } = Function.prototype;
/** `f` bound to the release's object that held it: a function that reads `this` sees what it always saw. */
const boundTo = (f: unknown, holder: unknown) => bind.call(f as () => unknown, holder);
const isAsync = (f: unknown) => typeof f === 'function' && (types.isAsyncFunction(f) || types.isGeneratorFunction(f));

/** At most this many command names, each at most MAX_COMMAND_NAME characters: every hello carries them,
 *  and E_UNKNOWN_COMMAND lists them. */
export const MAX_COMMANDS = 1000;
export const MAX_COMMAND_NAME = 100;
/** A migration's `describe` (each direction's, and the step's own) is shown to every client watching an
 *  upgrade: one sentence, at most this long. */
export const MAX_DESCRIBE = 500;
/** At most this many migration steps in a release: an upgrade's first notice carries the describe of
 *  each step it takes to every client (20,000 steps: 20 MB to each connection, and the event loop held
 *  6.5 s on a dry run). */
export const MAX_STEPS = 256;

/**
 * The release's exports: {feed: FeedVersion, migrations: Migration[]}. The caller runs this under the
 * watchdog (loadRelease): what it reads may be a getter of the release's. The feed it returns is the
 * kernel's own copy, read once here, so the reads the kernel makes for every command (`commands`,
 * `handle`) never run release code again.
 */
export function checkExports(exports: unknown): { feed: FeedVersion; migrations: readonly Migration[] } {
  if (!isRecord(exports)) die('E_RELEASE_EXPORTS', `release exports ${show(exports)}; expected {feed, migrations}`);
  const { feed, migrations } = exports;
  if (!isRecord(feed)) die('E_RELEASE_EXPORTS', `release exports feed = ${show(feed)}; expected a feed version module`);
  const version = feed['version'];
  if (!Number.isSafeInteger(version) || (version as number) < 1)
    die('E_RELEASE_EXPORTS', `feed exports version = ${show(version)}; expected a positive integer`);
  // each field read once: a getter could answer the check one thing and the kernel another
  const own: Record<string, unknown> = { version };
  for (const name of FEED_FUNCTIONS) {
    const fn = feed[name];
    if (typeof fn !== 'function')
      die('E_RELEASE_EXPORTS', `feed v${version} exports ${name} = ${show(fn)}; expected a function`);
    if (isAsync(fn))
      die('E_RELEASE_EXPORTS', `feed v${version} exports ${name} as an async or generator function; feed code is synchronous (a continuation would run unbounded)`);
    own[name] = boundTo(fn, feed);
  }
  const listed = feed['commands'];
  if (!Array.isArray(listed) || listed.length > MAX_COMMANDS)
    die('E_RELEASE_EXPORTS', `feed v${version} exports commands = ${show(listed)}; expected an array of at most ${MAX_COMMANDS} command names`);
  const commands: string[] = [];
  for (let i = 0; i < listed.length; i++) commands.push(listed[i] as string);
  if (!commands.every((c) => typeof c === 'string' && c.length > 0 && c.length <= MAX_COMMAND_NAME && !c.startsWith('$')))
    die('E_RELEASE_EXPORTS', `feed v${version} exports commands = ${show(commands)}; expected command names of 1 to ${MAX_COMMAND_NAME} characters (not starting with $)`);
  if (!Array.isArray(migrations) || migrations.length > MAX_STEPS) die('E_RELEASE_EXPORTS', `release exports migrations = ${show(migrations)}; expected an array of at most ${MAX_STEPS} steps`);
  const steps: Migration[] = [];
  for (let i = 0; i < migrations.length; i++) steps.push(ownStep(migrations[i], i));
  own['commands'] = Object.freeze(commands);
  const shape = feed['shape'];
  if (shape !== undefined) own['shape'] = shape;
  return { feed: Object.freeze(own) as unknown as FeedVersion, migrations: Object.freeze(steps) };
}

/** One step of the release's migrations, checked, as the kernel's own copy: each field read once. */
function ownStep(m: unknown, i: number): Migration {
  const { from, to, up, down, describe, shapes, lossless } = isRecord(m) ? m : {};
  if (!isRecord(m) || !Number.isSafeInteger(from) || !Number.isSafeInteger(to) || up === undefined) die('E_RELEASE_EXPORTS', `migrations[${i}] is ${show(m)}; expected {from, to, up, down?}`);
  if (describe !== undefined && (typeof describe !== 'string' || describe.length > MAX_DESCRIBE))
    die('E_RELEASE_EXPORTS', `migration ${from}->${to} has describe = ${show(describe)}; expected one line (at most ${MAX_DESCRIBE} characters)`);
  const step: Record<string, unknown> = { from, to, up: ownDirection(up, m, `migration ${from}->${to} up`) };
  if (down !== undefined) step['down'] = ownDirection(down, m, `migration ${from}->${to} down`);
  if (describe !== undefined) step['describe'] = describe;
  if (shapes !== undefined) step['shapes'] = shapes;
  if (lossless !== undefined) step['lossless'] = lossless;
  return Object.freeze(step) as unknown as Migration;
}

/** A direction of a step: a whole-state function, or {describe, changes?, each + finish | whole}. Its
 *  functions are bound to what held them (boundTo). */
function ownDirection(d: unknown, holder: object, where: string): unknown {
  if (typeof d === 'function') {
    if (isAsync(d)) die('E_RELEASE_EXPORTS', `${where} is an async or generator function; migrations are synchronous`);
    return boundTo(d, holder);
  }
  if (!isRecord(d)) die('E_RELEASE_EXPORTS', `${where} is ${show(d)}; expected a function, {describe, whole} or {describe, changes, each, finish}`);
  const { describe, changes, each, finish, whole } = d;
  if (typeof describe !== 'string' || describe.length > MAX_DESCRIBE) die('E_RELEASE_EXPORTS', `${where} has describe = ${show(describe)}; expected one sentence (at most ${MAX_DESCRIBE} characters)`);
  const perKind: [string, unknown][] = isRecord(each) ? Object.entries(each) : [];
  if ([whole, finish, ...perKind.map(([, f]) => f)].some(isAsync)) die('E_RELEASE_EXPORTS', `${where} has an async or generator function; migrations are synchronous`);
  const isWhole = typeof whole === 'function';
  const isEach = isRecord(each) && perKind.every(([, f]) => typeof f === 'function') && typeof finish === 'function';
  if (isWhole === isEach) die('E_RELEASE_EXPORTS', `${where} needs either whole(state) or each: {kind: fn} with finish(state, mapped)`);
  if (changes !== undefined && !isRecord(changes)) die('E_RELEASE_EXPORTS', `${where} has changes = ${show(changes)}; expected {kind: {add, remove, change, rename, drops, ...}}`);
  const own: Record<string, unknown> = { describe };
  if (changes !== undefined) own['changes'] = changes;
  if (isWhole) own['whole'] = boundTo(whole, d);
  else {
    own['each'] = Object.freeze(Object.fromEntries(perKind.map(([kind, f]) => [kind, boundTo(f, each)])));
    own['finish'] = boundTo(finish, d);
  }
  return Object.freeze(own);
}

/**
 * Whether a record's for-in lists its own named keys only: its prototype is Object.prototype or none,
 * and it is not a String object or a typed array, whose every index is a key. The kernel's for-in is
 * not release code, so no key-listing check (syntax.ts) stands before it, and V8 lists every key of
 * the object and its prototypes in one step the watchdog cannot interrupt: a handler that returned
 * `new String('x'.repeat(2 ** 28))`, or an object whose prototype was one (free to make), held the
 * live process 10-14 s a command past its 250 ms limit and took 1 GB (measured), and a census() or a
 * migration's result so made would have done the same.
 */
function ownRecord(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && indexedExotic(value) === null;
}

/**
 * What an object whose every index is a key is (a String object, a typed array), or null. Such an
 * object may be given a plain prototype (Object.setPrototypeOf(new String(text), null)); listing its
 * keys is one step of V8's, as long as its text or its buffer: the kernel's own walks ask this first.
 */
export function indexedExotic(value: object): string | null {
  return types.isStringObject(value) ? 'a String object' : types.isTypedArray(value) ? 'a typed array' : null;
}

/**
 * The own fields of a record returned by release code, read once as data: a getter or setter here is a
 * contract violation (it would run again whenever the kernel looked). Null when `value` is not a plain
 * record or has accessors.
 */
function dataFields(value: unknown): Record<string, unknown> | null {
  if (!isRecord(value) || types.isProxy(value) || !ownRecord(value)) return null;
  const out: Record<string, unknown> = {};
  for (const key in value) {
    const d = Object.getOwnPropertyDescriptor(value, key);
    // An own key named __proto__ (JSON.parse makes one, or defineProperty) set the copy's prototype to
    // its value: what the copy lacked was then read through that object, getters included, where the
    // kernel looks without a time limit. A census() returning {__proto__: {get things() {...}}} held the
    // rehearsal in the census invariants until its deadline (E_REHEARSAL after 14 s, saying nothing).
    if (d === undefined || !('value' in d) || key === '__proto__') return null;
    // put, not assigned: a census() counting a kind named constructor was reported as throwing "Cannot
    // assign to read only property 'constructor'" (status, and every push: "the running release's
    // census() breaks")
    put(out, key, d.value);
  }
  return out;
}

/**
 * A kind is looked up by name in records of counts ({kind: n}) all through an upgrade, so it may not
 * be named like what every object has: a census counting `toString` was refused as "toString (renamed
 * function toString() { [native code] }): 1 before, and gone from the census after", its rename and
 * its dropped count read from Object.prototype.
 */
export function inherited(kind: string): boolean {
  return kind in Object.prototype;
}

/**
 * node[key] = value, for a copy the kernel makes of plain data. A key every object has (constructor,
 * hasOwnProperty, __proto__: plain data may hold one) is defined instead: lockdown froze
 * Object.prototype, and assigning such a key threw "Cannot assign to read only property".
 */
export function put(node: Record<string | number, unknown>, key: string | number, value: unknown): void {
  if (typeof key === 'string' && inherited(key)) Object.defineProperty(node, key, { value, writable: true, enumerable: true, configurable: true });
  else node[key] = value;
}

function badOutcome(out: unknown, version: number, type: string, problem: string): never {
  die('E_HANDLER_CONTRACT', `feed v${version} handle('${type.slice(0, 40)}') returned ${show(out)}; ${problem}`);
}

/**
 * Check what handle() returned against the Outcome union, and return it as a fresh record read once:
 * {state, reply?, events?, bind?} or {error: {code, message}}. The values inside are checked by the
 * caller (plain.ts). The message is built only when something is wrong.
 */
export function checkOutcome(out: unknown, version: number, type: string, maxEvents = Infinity): Outcome<unknown> {
  const expected = 'expected {state, reply?, events?, bind?} or {error: {code, message}}';
  const o = dataFields(out);
  if (o === null) badOutcome(out, version, type, `${expected}, as a plain object of data`);
  if (typeof o!['then'] === 'function') badOutcome(out, version, type, 'a Promise: handlers are synchronous');
  if ('error' in o!) {
    const e = dataFields(o!['error']);
    if (e === null || typeof e['code'] !== 'string' || typeof e['message'] !== 'string') badOutcome(out, version, type, 'a refusal needs error: {code: string, message: string}');
    // E_* codes are the kernel's (docs/PROTOCOL.md): one passed on as the feed gave it told a client
    // the kernel had answered E_INTERNAL, or E_CIRCUIT_OPEN without the retryMs that code promises
    if ((e!['code'] as string).startsWith('E_')) badOutcome(out, version, type, `a refusal's code is the feed's own: ${JSON.stringify((e!['code'] as string).slice(0, 40))} is the kernel's kind (E_*)`);
    return { error: { code: own(e!['code'] as string, 200), message: own(e!['message'] as string, 2000) } };
  }
  if (!('state' in o!)) badOutcome(out, version, type, expected);
  const { state, reply, events, bind } = o as Record<string, unknown>;
  if (typeof state !== 'object' || state === null) badOutcome(out, version, type, 'state must be an object');
  if (events !== undefined && (typeof events !== 'object' || events === null || types.isProxy(events) || !Array.isArray(events) || Object.getPrototypeOf(events) !== Array.prototype))
    badOutcome(out, version, type, 'events must be a plain array');
  // a user id travels in presence frames to every socket and in every ctx.online: an id, not a payload
  if (bind !== undefined && bind !== null && (typeof bind !== 'string' || bind.length > MAX_USER_ID)) badOutcome(out, version, type, `bind must be a user id (a string of at most ${MAX_USER_ID} characters) or null`);
  const accepted: { state: unknown; reply?: unknown; events?: readonly FeedEvent[]; bind?: string | null } = { state };
  if (reply !== undefined) accepted.reply = reply;
  if (events !== undefined) accepted.events = ownEvents(events as unknown[], `feed v${version} handle('${type.slice(0, 40)}')`, maxEvents);
  if (bind !== undefined) accepted.bind = bind as string | null;
  return accepted as Accepted<unknown>;
}

/**
 * The events a handler returned (a plain array: checkOutcome), at most `max`, read once through
 * descriptors into an array of the kernel's own. The release's was iterated again in the effects,
 * outside the watchdog, so one whose prototype's iterator (or an index's getter) gave the events to
 * the checks and looped the third time wedged the process for good, with one command.
 */
function ownEvents(events: readonly unknown[], where: string, max: number): FeedEvent[] {
  const { length } = events;
  if (length > max) die('E_TOO_LARGE', `${where}: sent ${length.toLocaleString('en')} events; one command may send at most ${max.toLocaleString('en')}`);
  return ownSlots(events, (what) => die('E_HANDLER_CONTRACT', `${where} returned events with ${what}; events must be plain data`)) as FeedEvent[];
}

/**
 * A release's array read once, each slot through its descriptor, into an array of the kernel's own
 * (which the kernel may read again later, outside any time limit). `bad` is told of the first hole or
 * getter ("a hole at [3]") and throws; `each`, if given, sees every value as it is read, in order.
 */
export function ownSlots(list: readonly unknown[], bad: (what: string) => never, each?: (value: unknown, i: number) => void): unknown[] {
  const n = list.length;
  const out: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const slot = Object.getOwnPropertyDescriptor(list, i);
    if (slot === undefined || !('value' in slot)) bad(`${slot === undefined ? 'a hole' : 'a getter'} at [${i}]`);
    each?.(slot!.value, i);
    out[i] = slot!.value;
  }
  return out;
}

/** After plain.ts checked them: every event has a string type and `to`, if any, lists user ids. */
export function checkEvents(events: readonly unknown[], version: number, type: string): void {
  for (const ev of events) {
    const e = ev as Record<string, unknown>;
    if (!isRecord(ev) || typeof e['type'] !== 'string')
      die('E_HANDLER_CONTRACT', `feed v${version} handle('${type.slice(0, 40)}') returned an event ${show(ev)}; every event needs a string type`);
    if (e['to'] !== undefined && !(Array.isArray(e['to']) && e['to'].every((u) => typeof u === 'string')))
      die('E_HANDLER_CONTRACT', `feed v${version} handle('${type.slice(0, 40)}') returned an event to ${show(e['to'])}; event.to must be an array of user ids`);
  }
}

/** Check what a migration step returned: {state, dropped?}, read once as data. */
export function checkMigrationResult(out: unknown, step: string): MigrationResult<unknown> {
  const bad = (problem: string): never => die('E_MIGRATION_CONTRACT', `migration ${step} returned ${show(out)}; ${problem}`);
  if (types.isPromise(out) || (isRecord(out) && typeof (out as { then?: unknown }).then === 'function')) bad('a Promise: migrations are synchronous');
  const o = dataFields(out);
  if (o === null || typeof o['state'] !== 'object' || o['state'] === null) bad('expected {state, dropped?} as a plain object of data');
  const dropped = o!['dropped'];
  if (dropped === undefined) return { state: o!['state'] };
  const d = dataFields(dropped);
  if (d === null) bad('dropped must be {kind: count}');
  // as few kinds as a census counts: a million of them held the live process 4.5 s past the rehearsal's answer
  const kinds = Object.keys(d!);
  if (kinds.length > MAX_KINDS || kinds.some((k) => k.length > MAX_COMMAND_NAME)) bad(`dropped names ${kinds.length.toLocaleString('en')} kinds; expected at most ${MAX_KINDS}, each named in at most ${MAX_COMMAND_NAME} characters`);
  const odd = kinds.find(inherited);
  if (odd !== undefined) bad(`dropped names a kind ${odd}, a name every object has (Object.prototype's); name it otherwise`);
  for (const [kind, n] of Object.entries(d!)) if (!Number.isSafeInteger(n) || (n as number) < 0) bad(`dropped.${kind.slice(0, 40)} = ${show(n)}, expected a count >= 0`);
  return { state: o!['state'], dropped: d as Record<string, number> };
}

/**
 * validate() must return an array of strings: read once, through descriptors, into an array of the
 * kernel's own. It was used as given, so an array whose prototype was the release's own had its
 * `every`, `slice` and `map` called and what they returned read outside the time limit: a `length`
 * getter that never returned held the rehearsal until its deadline (E_REHEARSAL after 16 s, saying
 * nothing), and a `map` returning [] made one problem none.
 */
export function checkProblems(out: unknown, version: number): readonly string[] {
  const bad = (why = ''): never => die('E_VALIDATE', `feed v${version} validate() returned ${why || show(out)}; expected an array of problems (strings)`);
  if (typeof out !== 'object' || out === null) bad();
  if (types.isProxy(out)) bad('a Proxy');
  if (!Array.isArray(out)) bad();
  if (Object.getPrototypeOf(out) !== Array.prototype) bad('an array with a prototype of its own');
  const list = out as unknown[];
  const problems: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const d = Object.getOwnPropertyDescriptor(list, i);
    if (d === undefined) bad(`an array with a hole at [${i}]`);
    if (!('value' in d!)) bad(`an array with a getter at [${i}]`);
    if (typeof d!.value !== 'string') bad(`${show(d!.value)} at [${i}]`);
    problems.push(d!.value as string);
  }
  return problems;
}

/** Kinds a census may count: every upgrade frame and report carries them, to every client. */
export const MAX_KINDS = 100;

/** census() must return {kind: count}: at most MAX_KINDS kinds, named in at most MAX_COMMAND_NAME characters. */
export function checkCensus(out: unknown, version: number): Record<string, number> {
  const fields = dataFields(out);
  const kinds = fields === null ? [] : Object.keys(fields);
  if (fields === null || kinds.length > MAX_KINDS || !kinds.every((k) => k.length <= MAX_COMMAND_NAME && Number.isSafeInteger(fields[k]) && (fields[k] as number) >= 0))
    die('E_RELEASE_EXPORTS', `feed v${version} census() returned ${show(out)}; expected {kind: count}, at most ${MAX_KINDS} kinds named in at most ${MAX_COMMAND_NAME} characters`);
  const odd = kinds.find(inherited);
  if (odd !== undefined) die('E_RELEASE_EXPORTS', `feed v${version} census() counts a kind named ${odd}, a name every object has (Object.prototype's); name it otherwise`);
  return fields as Record<string, number>;
}
