import { restoreFreeze } from './freeze.ts'; // first: SES takes its freeze from it (see freeze.ts)
import './pattern.ts'; // before SES too: it takes the RegExp its compartments build on when it loads
import 'ses';
import vm from 'node:vm';
import { types } from 'node:util';
import { MAX_ARRAY_SLOTS, TYPED, boundedConstructor, enterFeed, guardBuiltins, keysBounded, leaveFeed } from './builtins.ts';
import { KEYS, guardSyntax, keysGlobal } from './syntax.ts';
import { immerFor } from './release-immer.ts';
import { own } from './errors.ts';

restoreFreeze();
// the built-ins that walk a whole length in one call get their bounds (builtins.ts): inert until feed
// code runs, and installed before anything here reads them (GUARDED_ARRAY's from) or lockdown freezes them
guardBuiltins();

/**
 * Where release code runs, in the live process. Three walls, each measured (ART.md, "What is
 * contained"):
 *
 *  1. The host is locked down once, before any release is evaluated: SES's lockdown() freezes every
 *     shared built-in (Object, Array.prototype, JSON, ...), so nothing a release does to them survives
 *     it or reaches the kernel: `Array.prototype.includes = ...` throws instead of poisoning the server.
 *  2. Each release is evaluated in its own SES Compartment: its globalThis, eval and Function are the
 *     compartment's own, so indirect eval and constructor chains reach nothing of the host (no process,
 *     no require, no fs). The compartment's globals are the language's only, and a few stand-ins that
 *     fail with a message saying what to use instead: Date (ctx.now), Math.random (ctx.token()), Intl
 *     (it reads the clock), Proxy, Promise, WeakRef, FinalizationRegistry, SharedArrayBuffer, Atomics;
 *     an Array that makes no array V8 would make sparse (GUARDED_ARRAY), and typed arrays and
 *     ArrayBuffer bounded in length the same way. While it runs, the built-ins that walk a whole
 *     length in one call (indexOf over `{ length: 2 ** 40 }`, a sort without a comparator) are
 *     bounded too (builtins.ts).
 *     The one import allowed is `immer`, a copy of the module of the release's own (release-immer.ts).
 *  3. Every call into release code runs under V8's watchdog (runBounded): past its limit whatever runs
 *     is terminated, however deep. So is everything the kernel does with what comes back that could run
 *     release code (reading a thrown value, say).
 *
 * What this cannot bound is memory: one allocation can abort the whole process. So release code that
 * runs over the whole state (migrations, validate, census, a shadow run of new handlers) runs first in
 * a separate process (src/kernel/upgrade/), and only handlers, which must be fast, run here unrehearsed.
 *
 * Why the globals are passed as parameters of a compiled function rather than evaluated in the
 * compartment: SES evaluates compartment code inside `with` scopes, where free-variable lookups are slow
 * (validate() over 100k posts took 3.5x as long), and its sources stay in V8's eval cache. Bound as
 * parameters they are plain locals, and release code runs at host speed (measured: the same within
 * noise). Every host global the language lacks is bound to undefined the same way.
 *
 * Why one tiny vm.Script: only running a script can bound time. Every call into release code goes
 * through CALL, which invokes a host closure under V8's watchdog. CALL's source never changes, so it
 * compiles once.
 */

const SLOT = Symbol.for('molt.sandbox.call');
const CALL = new vm.Script(`globalThis[Symbol.for('molt.sandbox.call')]()`, { filename: 'molt:call' });

let locked = false;

/** Freeze the host's shared built-ins (SES lockdown), once per process, before any release runs. */
export function lockdownHost(): void {
  if (locked) return;
  locked = true;
  try {
    lockdown({
      // keep the host's own debugging and logging as they were: stacks, console, locale, domains
      errorTaming: 'unsafe',
      stackFiltering: 'verbose',
      consoleTaming: 'unsafe',
      localeTaming: 'unsafe',
      domainTaming: 'unsafe',
      // the kernel's own code (tsx, vm) still needs eval in the start compartment
      evalTaming: 'unsafe-eval',
      overrideTaming: 'moderate',
      reporting: 'none',
    } as Parameters<typeof lockdown>[0]);
  } catch (err) {
    // already locked down by the embedding process: that is what we want
    if (!/already locked down/i.test(String((err as Error)?.message))) throw err;
  }
}

function unavailable(name: string, instead: string): never {
  throw new Error(`${name} is not available to feed code: ${instead}`);
}

/** A stand-in for a global: it and its static methods (Promise.resolve, Intl.DateTimeFormat) throw. */
function standIn(name: string, instead: string): unknown {
  const real = (globalThis as Record<string, unknown>)[name];
  const members = real === undefined || real === null ? [] : Object.getOwnPropertyNames(real).filter((m) => typeof (real as Record<string, unknown>)[m] === 'function');
  return standInWith(name, instead, members);
}

function standInWith(name: string, instead: string, members: readonly string[]): unknown {
  const fn = function unavailableGlobal() {
    unavailable(name, instead);
  };
  for (const m of members) Object.defineProperty(fn, m, { value: standInWith(`${name}.${m}`, instead, []), enumerable: true });
  return Object.freeze(fn);
}

/**
 * The most slots `new Array(n)` gives feed code (builtins.ts): V8 makes a larger array sparse (a
 * dictionary), and a built-in over that runs one C++ loop that V8's watchdog cannot interrupt:
 * `new Array(2 ** 26).fill(0)` held the process for 22 s past a 250 ms limit (measured; RSS 5.3 GB),
 * and `new Array(5e8).fill(0)` ends it out of memory. Filling 2^25 slots takes ~0.3 s here.
 */
export { MAX_ARRAY_SLOTS };

/**
 * Feed code's `Array`: the language's own (its prototype, isArray, from and of), except that it makes
 * no array of more than MAX_ARRAY_SLOTS slots. `Array.from` and `Array.of` construct through it, so
 * `Array.from({ length: 5e8 })` is refused too. What it cannot see, an array made small and then given
 * a large `length` or made by `[].constructor`, is harmless on its own: the built-ins that would walk
 * its length refuse it (builtins.ts).
 */
const GUARDED_ARRAY: ArrayConstructor = (() => {
  const real = Array;
  const check = (args: unknown[]) => {
    const n = args[0];
    if (args.length === 1 && typeof n === 'number' && n > MAX_ARRAY_SLOTS)
      throw new RangeError(
        `new Array(${n}): feed code may make an array of at most ${MAX_ARRAY_SLOTS.toLocaleString('en')} slots at once (a larger one is sparse, and filling it would hold the whole process, past its time limit)`,
      );
  };
  const guarded = function Array(this: unknown, ...args: unknown[]): unknown {
    check(args);
    // (`new Array(n)` makes the language's very array, with V8's own map for it; a subclass its own)
    return new.target === undefined || new.target === guarded ? Reflect.apply(real, undefined, args) : Reflect.construct(real, args, new.target);
  };
  Object.defineProperties(guarded, {
    prototype: { value: real.prototype },
    isArray: { value: real.isArray, writable: true, configurable: true },
    from: { value: real.from, writable: true, configurable: true },
    of: { value: real.of, writable: true, configurable: true },
    [Symbol.species]: { get: function species(this: unknown) { return this; }, configurable: true },
  });
  return Object.freeze(guarded) as unknown as ArrayConstructor;
})();

/** Stand-ins that fail with a message saying what to use instead. */
function standIns(): Record<string, unknown> {
  return {
    Array: GUARDED_ARRAY,
    Date: Object.freeze(
      Object.assign(function Date() { unavailable('Date', 'take the time from ctx.now'); }, {
        now: () => unavailable('Date.now', 'take the time from ctx.now'),
      }),
    ),
    Math: Object.freeze(
      Object.defineProperties({}, {
        ...Object.getOwnPropertyDescriptors(Math),
        random: { value: () => unavailable('Math.random', 'take randomness from ctx.token()'), enumerable: false },
      }),
    ),
    Intl: standIn('Intl', 'it reads the clock and the locale; format times and numbers in the view'),
    Proxy: standIn('Proxy', 'the state holds plain data only'),
    Promise: standIn('Promise', 'feed code is synchronous'),
    WeakRef: standIn('WeakRef', 'it depends on the garbage collector'),
    FinalizationRegistry: standIn('FinalizationRegistry', 'it depends on the garbage collector'),
    SharedArrayBuffer: standIn('SharedArrayBuffer', 'feed code shares nothing'),
    Atomics: standIn('Atomics', 'feed code shares nothing'),
    // what SES puts on a compartment's globalThis: a Compartment of its own would have none of these
    // stand-ins, nor the bounds of syntax.ts (a Promise, a Proxy, an Array of any length)
    Compartment: standIn('Compartment', 'release code runs in the one compartment the kernel gives it'),
    lockdown: standIn('lockdown', 'the kernel locked the host down before any release ran'),
    harden: standIn('harden', 'the kernel freezes the state itself'),
    // one call encodes a string of any length, in C++ that nothing interrupts
    TextEncoder: standIn('TextEncoder', 'the feed keeps strings, not bytes'),
    TextDecoder: standIn('TextDecoder', 'the feed keeps strings, not bytes'),
    // the host's own, bounded in length (builtins.ts): a buffer of any size costs nothing until a
    // built-in touches it all, in one call nothing interrupts
    ...Object.fromEntries([...TYPED, 'ArrayBuffer'].map((name) => [name, boundedConstructor(name)])),
    // BigInt arithmetic runs in one step nothing interrupts, at any size: a probe's square of a
    // 2^29-bit BigInt (made by one shift) held the process 2.3 s past a 250 ms limit, a division 0.9 s.
    // The state holds numbers; literals are refused where a release loads (syntax.ts), and the ways to
    // make a BigInt without one are these (and DataView's getBigInt64, builtins.ts)
    BigInt: standIn('BigInt', 'the state holds numbers (its arithmetic runs in one step nothing can interrupt)'),
    BigInt64Array: standIn('BigInt64Array', 'the state holds numbers'),
    BigUint64Array: standIn('BigUint64Array', 'the state holds numbers'),
  };
}

const STRICT_RESERVED = new Set(['arguments', 'implements', 'interface', 'let', 'package', 'private', 'protected', 'public', 'static', 'yield', 'await', 'undefined', 'NaN', 'Infinity']);

/** The language's global names (what a fresh context has): bound to the compartment's own values. */
const LANGUAGE: ReadonlySet<string> = new Set(vm.runInNewContext('Object.getOwnPropertyNames(globalThis)') as string[]);

/**
 * Every name the wrapper binds: the language's (the compartment's values), the host's additions
 * (require, process, Buffer, timers, fetch, ...: bound to undefined), and eval and globalThis.
 */
const NAMES: readonly string[] = (() => {
  const names = new Set([...LANGUAGE, ...Object.getOwnPropertyNames(globalThis), 'eval', 'globalThis', 'require', 'module', 'exports', '__filename', '__dirname']);
  for (const n of ['exports', 'require', 'module']) names.delete(n);
  return [...names].filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && !STRICT_RESERVED.has(n)).sort();
})();

const IMPORTS = ['immer'];

export interface Sandbox {
  /** What the release's top level assigned to module.exports. */
  readonly exports: unknown;
  /** Run `fn` (which calls into release code) with a time limit; throws TimeoutError past it. */
  run<T>(fn: () => T, timeoutMs: number): T;
}

export class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`ran for more than ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * What the kernel sees in place of a thrown Proxy, or a value with one on its prototype chain. Release
 * code has no Proxy of its own, but every immer draft is one, and a draft kept past the produce that
 * made it is revoked: `instanceof` on it (or on an object made with it as prototype) throws. Rethrown as
 * it was, a handler that threw one was answered "internal error while serving", and a migration step,
 * validate(), census() or sample() that threw one (in the rehearsal) was refused as `E_REHEARSAL:
 * Cannot perform 'getPrototypeOf' on a proxy that has been revoked`, as if the rehearsal had broken,
 * naming no step.
 */
export class ProxyThrown extends Error {
  constructor() {
    super("threw a Proxy (an immer draft kept past the produce that made it?)");
    this.name = 'ProxyThrown';
  }
}

/** Whether `err` is a Proxy or has one on its prototype chain (read without running release code). */
function holdsProxy(err: unknown): boolean {
  for (let v = err; (typeof v === 'object' && v !== null) || typeof v === 'function'; ) {
    if (types.isProxy(v)) return true;
    v = Object.getPrototypeOf(v);
  }
  return false;
}

/** What release code threw, as the kernel may look at it: a Proxy (or a value over one) becomes ProxyThrown. */
export function thrown(err: unknown): unknown {
  return holdsProxy(err) ? new ProxyThrown() : err;
}

/** Whether `err` is V8's watchdog firing (read without running anything a release may have set). */
function isWatchdog(err: unknown): boolean {
  if (!types.isNativeError(err)) return false;
  const code = Object.getOwnPropertyDescriptor(err, 'code');
  return code !== undefined && 'value' in code && code.value === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
}

/** Bounded calls started so far: what a release's immer compares to find a call stopped inside it. */
let bounded = 0;

/** Run `fn` under V8's watchdog: past `ms`, whatever runs is terminated and TimeoutError thrown. */
export function runBounded<T>(fn: () => T, ms: number): T {
  bounded++;
  const slots = globalThis as unknown as Record<symbol, (() => void) | undefined>;
  let result: T | undefined;
  slots[SLOT] = () => {
    result = fn();
  };
  enterFeed();
  try {
    CALL.runInThisContext({ timeout: Math.max(1, Math.round(ms)) });
  } catch (err) {
    if (isWatchdog(err)) throw new TimeoutError(ms);
    throw thrown(err);
  } finally {
    leaveFeed();
    slots[SLOT] = undefined;
  }
  return result as T;
}

/**
 * Evaluate a release bundle (CommonJS-shaped, as built by src/release/build.ts) in a compartment of its
 * own. Throws whatever the bundle throws while evaluating (SyntaxError, a bad import, a timeout).
 */
export function evaluate(code: string, filename: string, timeoutMs: number): Sandbox {
  lockdownHost();
  const stand = standIns();
  // what its eval and Function compile is bounded as its own source is (syntax.ts)
  const transforms = [(source: string) => guardSyntax(source, `${filename} (eval)`)];
  const compartment = new Compartment({ globals: { ...stand, ...keysGlobal }, transforms, __options__: true, name: filename } as never);
  const global = compartment.globalThis as Record<string, unknown>;
  Object.defineProperty(global, KEYS, { writable: false, configurable: false });
  // The outer function is sloppy so that one of its parameters may be called eval; the bundle inside
  // is strict. vm.compileFunction, not compartment.evaluate: compiled functions are freed with their
  // release, where evaluated sources stay in V8's eval cache (measured: 20 KB per push kept).
  // (parsed under the watchdog too: the parser is JavaScript, and its time is the load's)
  const guarded = runBounded(() => guardSyntax(code, filename), timeoutMs);
  const outer = vm.compileFunction(`return function (exports, require, module) {\n${guarded}\n};`, [...NAMES, KEYS], { filename });
  const module = { exports: {} as unknown };
  let ownImmer: unknown;
  const require = (id: string): unknown => {
    if (id === 'immer') return (ownImmer ??= immerFor(() => bounded));
    throw new Error(`release code may import only ${IMPORTS.join(', ')}; it asked for '${String(id).slice(0, 60)}'`);
  };
  const values = [...NAMES.map((n) => (Object.hasOwn(stand, n) ? stand[n] : LANGUAGE.has(n) || n === 'eval' || n === 'globalThis' ? global[n] : undefined)), keysBounded];
  let exported: unknown;
  runBounded(() => {
    const body = (outer as (...args: unknown[]) => (exports: unknown, require: unknown, module: unknown) => void)(...values);
    body(module.exports, require, module);
    // read here, under the watchdog, once: the top level holds `module` and may have made its exports a
    // getter. Read after this call, one that never returned wedged the live process for good, at the
    // push of such a release, dry run or not, before any of its code was rehearsed
    exported = module.exports;
  }, timeoutMs);
  return { exports: exported, run: runBounded };
}

/**
 * A readable one-liner for anything release code threw, read under the watchdog: a thrown value may be
 * a Proxy or have a getter or toString that never returns.
 */
export function describeThrown(err: unknown, ms = 100): string {
  if (err instanceof TimeoutError || err instanceof ProxyThrown) return err.message;
  try {
    return runBounded(() => {
      if (types.isNativeError(err)) {
        const e = err as Error;
        // strings of their own: a slice keeps the text it was cut from alive (errors.ts, own)
        return `${own(String(e.name), 80)}: ${own(String(e.message), 500)}`;
      }
      if (typeof err === 'string') return `threw ${JSON.stringify(err.slice(0, 500))}`;
      if (typeof err === 'object' && err !== null && types.isProxy(err)) return 'threw a Proxy';
      return `threw ${own(String(err), 500)}`;
    }, ms);
  } catch {
    return 'threw a value that cannot be printed';
  }
}
