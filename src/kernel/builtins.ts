import { types } from 'node:util';

/**
 * Built-ins that do a whole length's work in one call, bounded for feed code.
 *
 * V8's watchdog (runBounded) interrupts JavaScript, not the C++ inside one built-in call. Most
 * built-ins do work in proportion to memory that feed code had to fill first, in JavaScript, under
 * the watchdog. Some do work in proportion to a *length*, and a length costs nothing to make: an
 * array-like `{ length: 2 ** 40 }`, an array given `a.length = 2 ** 30`, a string doubled 28 times.
 * Measured here, each from one line in a handler limited to 250 ms:
 *
 *   Array.prototype.indexOf / forEach / some / fill / reverse ... .call({ length: 2 ** 40 })
 *                                               never returned (the process was wedged)
 *   Array.prototype.sort.call({ length: 2 ** 40 })       the process died (V8: invalid array length)
 *   'x'.repeat(2 ** 28).split('')                         the process died (out of memory)
 *   JSON.parse('[' + '0,'.repeat(2 ** 27) + '0]')         the process died (out of memory)
 *   Array.from.call(Object, { length: 2 ** 40 })         held for 13.6 s, 2.4 GB
 *   Object.keys('x'.repeat(2 ** 28))                      held for 6 s, 900 MB
 *   an array of 2 ** 22 numbers .sort()                   held for 7 s (each comparison is a
 *                                                          ToString, inside one call)
 *   Reflect.apply(f, null, { length: 2 ** 26 })           held for 1.9 s, 635 MB
 *
 * So while feed code runs (`enterFeed`, counted by runBounded), these refuse a receiver or argument
 * longer than MAX_ARRAY_SLOTS (2^25: filling that many slots takes 0.3-0.8 s here) with a RangeError
 * saying why, and a sort without a comparator compares in JavaScript (the language's own order,
 * ToString of each side), where the watchdog can stop it. The host's own calls are unchanged: the
 * guards are installed before lockdown, on the shared intrinsics, and look at nothing unless feed code
 * is running. The typed arrays and ArrayBuffer are bounded the same way where they are made (a view
 * too: no typed array feed code makes is longer than 2^25), and the bounded constructors are the
 * host's own globals, so an instance's `constructor` is one of them as well.
 *
 * Listing keys costs more a slot than walking them (a string is made for each index), so the
 * built-ins that list them take at most MAX_KEYS indices (checkKeys).
 *
 * Syntax that lists keys (`for (k in x)`, `{ ...x }`, `{ ...rest } = x`) is rewritten to call
 * keysBounded first (syntax.ts). Commands hold plain data only (kernel.ts), so no buffer arrives in one.
 */

/** The longest array, array-like or string a built-in may walk in one call from feed code. */
export const MAX_ARRAY_SLOTS = 2 ** 25;

/** The largest ArrayBuffer feed code may make: room for MAX_ARRAY_SLOTS doubles. */
export const MAX_BUFFER_BYTES = MAX_ARRAY_SLOTS * 8;

/** The longest text a built-in that rewrites it character by character may take from feed code (~0.4 s). */
export const MAX_TEXT = 2 ** 24;

/** The most keys a built-in may list in one call from feed code (each index becomes a string: ~0.4 us). */
export const MAX_KEYS = 2 ** 20;

/**
 * The longest pattern feed code may make a RegExp of. V8 parses a pattern when it makes one and
 * compiles it when first used, each in one C++ call no watchdog can stop (running it is another
 * matter: a backtracking match stops at the time limit like any JavaScript). The compile grows faster
 * than the pattern: measured here, 'a|' repeated to 2^16 characters took 75 ms, to 2^20 2.9 s, to 2^24
 * 119 s, and to 2^26 the process died (V8's compiler out of memory). Of the shapes tried, the dearest
 * at 2^14 characters took 128 ms (groups nested 8,192 deep), at 2^16 334 ms (named groups).
 */
export const MAX_PATTERN = 2 ** 14;

/**
 * The longest text replaceAll may search with a string for one to put in its place (~0.4 s): V8 collects
 * every match in one loop no watchdog stops, 1.5 s over 2^24 characters here, and over 2^28 the process
 * died (out of memory). With a function to call, or a RegExp, it runs JavaScript between matches.
 */
export const MAX_REPLACE = 2 ** 22;
/** The longest key feed code may register with Symbol.for, and how many keys in all. */
export const MAX_SYMBOL_KEY = 128;
export const MAX_SYMBOLS = 10_000;

/** Most arguments a spread-from-array-like call (apply) may pass: V8 overflows its stack well before. */
export const MAX_APPLY_ARGS = 2 ** 17;

let feedDepth = 0;

/** The host's own, taken before any guard: for the kernel's per-command walk (plain.ts). */
export const hostGetOwnPropertyNames = Object.getOwnPropertyNames;
/** Likewise (set by guardBuiltins, which runs once freeze.ts has given Object.freeze back). */
export let hostFreeze: typeof Object.freeze = Object.freeze;

/** Feed code starts running (runBounded): the guards apply until the matching leaveFeed. */
export function enterFeed(): void {
  feedDepth++;
}

export function leaveFeed(): void {
  feedDepth--;
}

/** Whether feed code is running (inside runBounded): what runs now is under V8's watchdog. */
export function feedRunning(): boolean {
  return feedDepth !== 0;
}

const { apply, construct } = Reflect;
const isArray = Array.isArray;

const gopd = Object.getOwnPropertyDescriptor;
const getProto = Object.getPrototypeOf;
const getter = (o: object, key: string): (() => unknown) => gopd(o, key)!.get!;
const TypedArrayPrototype = getProto(Int8Array.prototype) as object;
const taLength = getter(TypedArrayPrototype, 'length');
const taByteOffset = getter(TypedArrayPrototype, 'byteOffset');
const abResizable = getter(ArrayBuffer.prototype, 'resizable');
const abMaxByteLength = getter(ArrayBuffer.prototype, 'maxByteLength');
const stringValue = String.prototype.valueOf;
const ObjectPrototype = Object.prototype;

/**
 * The length a built-in will read from `o`, read so that it cannot say one thing here and another to
 * the built-in: no getter or valueOf of feed code's runs here. An array's, a string's or a typed array's
 * length is the language's own; an array-like's must be a plain number (own or inherited), or the call
 * is refused: a getter could answer 1 to this look and 2^40 to the built-in.
 */
function lengthOf(what: string, o: unknown): number {
  if (isArray(o)) return o.length;
  if (o === null || o === undefined) return 0;
  if (typeof o === 'string') return o.length;
  if (typeof o !== 'object' && typeof o !== 'function') return 0;
  if (types.isTypedArray(o)) return taLength.call(o) as number;
  if (types.isStringObject(o)) return (stringValue.call(o) as string).length;
  for (let at: object | null = o as object; at !== null; at = getProto(at) as object | null) {
    const d = gopd(at, 'length');
    if (d === undefined) continue;
    if ('value' in d && (typeof d.value === 'number' || d.value === undefined)) return d.value > 0 ? (d.value as number) : 0;
    throw new RangeError(`${what}: feed code may hand a built-in an array-like only with a plain number for its length (this one's is ${'value' in d ? (typeof d.value === 'object' ? 'an object' : `a ${typeof d.value}`) : 'a getter'}: it could give the built-in another length than the one checked)`);
  }
  return 0;
}

function tooLong(what: string, n: number, max = MAX_ARRAY_SLOTS, unit = 'slots'): never {
  throw new RangeError(
    `${what}: feed code may have a built-in walk at most ${max.toLocaleString('en')} ${unit} in one call; this one has ${n.toLocaleString('en')} (the call would run as one step that nothing can interrupt, holding the whole process)`,
  );
}

function checkLength(what: string, o: unknown, max = MAX_ARRAY_SLOTS, unit = 'slots'): void {
  const n = lengthOf(what, o);
  if (n > max) tooLong(what, n, max, unit);
}

/** `value` as a string, converted once (a toString could answer one length here, another to the built-in), within `max`. */
function textOf(what: string, value: unknown, max = MAX_ARRAY_SLOTS, unit = 'slots'): string {
  const text = String(value);
  checkLength(what, text, max, unit);
  return text;
}

/**
 * A string, array or typed array with more indices than MAX_KEYS: listing them makes a string of each
 * (measured: Object.getOwnPropertyNames of an array of 2^25 held the process 6.5 s and 1.2 GB; of 2^20,
 * 0.4 s). Any other object's keys exist already, and an array-like's length is not a key.
 */
function checkKeys(what: string, o: unknown): void {
  if (typeof o === 'string' || isArray(o) || types.isTypedArray(o) || types.isStringObject(o)) checkLength(what, o, MAX_KEYS, 'keys');
}

/**
 * What release code's `for (k in x)`, `{ ...x }` and `{ ...rest } = x` call on x (syntax.ts rewrites
 * them so): x itself, or a RangeError where listing its keys would run too long in one step.
 */
export function keysBounded(x: unknown): unknown {
  if (typeof x === 'string') {
    if (x.length > MAX_KEYS) tooLong('for-in, or { ...x }', x.length, MAX_KEYS, 'keys');
  } else if (typeof x === 'object' && x !== null) {
    // for-in lists what the prototypes hold too: an array of 2^25 under an empty object, 5.9 s
    for (let at: object | null = x; at !== null && at !== ObjectPrototype; at = getProto(at) as object | null) checkKeys('for-in, or { ...x }', at);
  }
  return x;
}

// Every release's compartment is handed this one function (syntax.ts): frozen, with its prototype, so
// that no release can leave anything on it for the next one (a helper's probe kept 56 MB a command there,
// out of every later release's reach and the kernel's, and writes were refused as full for good).
Object.freeze(keysBounded.prototype);
Object.freeze(keysBounded);

/** The language's order for a sort without a comparator: ToString of each side, compared as strings. */
function defaultCompare(x: unknown, y: unknown): number {
  const a = String(x);
  const b = String(y);
  return a < b ? -1 : a > b ? 1 : 0;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** Replace `owner[name]` by `make(original)`, keeping its name, its length and how it is defined. */
function replace(owner: object, name: string, make: (original: Method) => Method): void {
  const d = gopd(owner, name);
  if (!d || typeof d.value !== 'function') return; // not here (or not in this Node): nothing to guard
  const original = d.value as Method;
  const guarded = make(original);
  Object.defineProperty(guarded, 'name', { value: original.name });
  Object.defineProperty(guarded, 'length', { value: original.length });
  Object.defineProperty(owner, name, { ...d, value: guarded });
}

/**
 * Methods whose work is the receiver's length, on arrays and on typed arrays. Most ignore what they
 * are not given, so the guard passes three arguments on with a plain call (the host's own calls stay
 * cheap: no arguments object, and V8 can still inline the built-in); the rest tell a missing argument
 * from an undefined one (reduce's initial value, splice's count, lastIndexOf's start) and are passed
 * on whole.
 */
const BY_RECEIVER = [
  'copyWithin', 'every', 'fill', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex', 'forEach', 'includes', 'indexOf',
  'map', 'reverse', 'shift', 'slice', 'some', 'toReversed', 'with',
] as const;
/**
 * Passed on whole, each with the most slots its receiver may have. Dearer a slot where a string is
 * made of each, in the same step: a probe's `join()` of 2^25 numbers held the process 12.2 s (RSS
 * 353 MB -> 2.3 GB), and `'' + array` and String(array) go through join; measured here over 2^22
 * numbers, join 1.4 s and toLocaleString 4.0 s, each past a 100 ms limit. They take at most MAX_KEYS
 * slots (join 0.37 s, toLocaleString 0.85 s over 2^20 numbers).
 */
const BY_RECEIVER_WHOLE: Readonly<Record<string, number>> = {
  lastIndexOf: MAX_ARRAY_SLOTS, reduce: MAX_ARRAY_SLOTS, reduceRight: MAX_ARRAY_SLOTS, splice: MAX_ARRAY_SLOTS, toSpliced: MAX_ARRAY_SLOTS, unshift: MAX_ARRAY_SLOTS,
  join: MAX_KEYS, toLocaleString: MAX_KEYS,
};

/** Guard `owner`'s `names` by the length of their receiver (`label`.name in what they say). */
function guardByReceiver(owner: object, label: string, names: readonly string[], whole: Readonly<Record<string, number>>): void {
  for (const name of names)
    replace(owner, name, (original) => ({
      [name](this: unknown, a?: unknown, b?: unknown, c?: unknown) {
        if (feedDepth !== 0) checkLength(`${label}.${name}`, this);
        return original.call(this, a, b, c);
      },
    })[name]!);
  for (const [name, max] of Object.entries(whole))
    replace(owner, name, (original) => ({
      [name](this: unknown) {
        if (feedDepth !== 0) checkLength(`${label}.${name}`, this, max);
        return apply(original, this, arguments);
      },
    })[name]!);
}

/**
 * The most characters one search of an array for a string (indexOf, includes, lastIndexOf) may compare.
 * Each slot holding a string as long as the one searched for is compared to it in full, in C++, in the
 * same step: 2^20 slots of a 1 MB string held the process 25 s past its limit, and eight pieces
 * of 2^27 characters put together (a few bytes each until read) were flattened by one search
 * until the heap ran out and the process died. Bounding slots times length bounds both; a string
 * shorter than 13 characters is never made of pieces and compares at once.
 */
export const MAX_COMPARED = 2 ** 26;

function guardSearches(AP: object): void {
  for (const name of ['indexOf', 'includes', 'lastIndexOf'])
    replace(AP, name, (original) => ({
      [name](this: unknown) {
        const x: unknown = arguments[0];
        if (feedDepth !== 0 && typeof x === 'string' && x.length > 12) {
          const n = lengthOf(`Array.prototype.${name}`, this);
          if (n * x.length > MAX_COMPARED)
            throw new RangeError(
              `Array.prototype.${name}: feed code may have one search of an array for a string compare at most ${MAX_COMPARED.toLocaleString('en')} characters; this one could compare ${(n * x.length).toLocaleString('en')} (${n.toLocaleString('en')} slots, each against ${x.length.toLocaleString('en')} characters, in one step that nothing can interrupt, holding the whole process)`,
            );
        }
        return apply(original, this, arguments);
      },
    })[name]!);
}

/** The typed arrays, and what feed code gets for each: the same, bounded in length (guardBuiltins). */
export const TYPED = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array'] as const;
const bounded = new Map<string, unknown>();

/** Feed code's `name` (a typed array or ArrayBuffer): the host's own but for its bound on length. */
export function boundedConstructor(name: string): unknown {
  return bounded.get(name);
}

/** A typed array's order for a sort without a comparator: numbers ascending, -0 before +0, NaN last. */
function numericCompare(x: number | bigint, y: number | bigint): number {
  if (x !== x) return y !== y ? 0 : 1;
  if (y !== y) return -1;
  if (x < y) return -1;
  if (x > y) return 1;
  if (x === 0 && y === 0) return Object.is(x, -0) === Object.is(y, -0) ? 0 : Object.is(x, -0) ? -1 : 1;
  return 0;
}

/**
 * A constructor that is `real` (its prototype, statics, species) except that, while feed code runs, it
 * makes nothing longer than the bound: a buffer costs nothing until a built-in touches it all (a 2 GB
 * Uint8Array filled in 2.5 s past a 250 ms limit, measured), and an array-like is copied in one call.
 *
 * It replaces the real one everywhere feed code could find it: the host's global, and the prototype's
 * `constructor` (which SES checks is that global), so an instance's `constructor` is this one too.
 * With the real one still there, `new (u8.constructor)({ length: 2 ** 30 })` held the process for
 * good (measured: more than a minute, then killed), `u8.constructor.from({ length: 2 ** 28 })` for
 * 10 s and 2.2 GB, and `new (u8.buffer.constructor)(2 ** 31).slice(0)` for 2.8 s and 2.1 GB. The host's
 * own code is unchanged: Buffer and Node's internals hold the real constructors from before, and a
 * `new Uint8Array` of the kernel's own pays one wrapper call (~20 ns).
 */
function boundConstructor(name: string): void {
  const real = (globalThis as Record<string, unknown>)[name] as (new (...args: unknown[]) => object) | undefined;
  if (typeof real !== 'function') return;
  const buffer = name === 'ArrayBuffer';
  const perElement = (real as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  const guarded = {
    [name]: function (this: unknown, ...args: unknown[]): unknown {
      if (new.target === undefined) throw new TypeError(`Constructor ${name} requires 'new'`);
      const target = new.target === guarded ? real : new.target;
      if (feedDepth !== 0) {
        const a = args[0];
        if (buffer) {
          // read once and handed on as numbers: a valueOf could answer differently twice
          const options = args[1];
          const max = typeof options === 'object' && options !== null ? (options as { maxByteLength?: unknown }).maxByteLength : undefined;
          const bytes = Number(a);
          const most = max === undefined ? undefined : Number(max);
          args = most === undefined ? [bytes] : [bytes, { maxByteLength: most }];
          const n = Math.max(bytes || 0, most || 0);
          if (n > MAX_BUFFER_BYTES) tooLong(`new ${name}`, n, MAX_BUFFER_BYTES, 'bytes');
        } else if (typeof a !== 'object' || a === null) {
          const n = Number(a) || 0;
          if (n > MAX_ARRAY_SLOTS) tooLong(`new ${name}`, n);
        } else if (!types.isAnyArrayBuffer(a)) checkLength(`new ${name}`, a);
        else {
          // a view costs nothing to make, but is as long as the buffer (a Float64Array's buffer seen
          // as bytes: 8 times as many), and a view of a resizable buffer grows with it
          // (read with the language's own getters: a subclass or the buffer may shadow them)
          const made = construct(real, args, target) as Uint8Array;
          const tracking = types.isArrayBuffer(a) && abResizable.call(a) === true && args[2] === undefined;
          const most = tracking ? ((abMaxByteLength.call(a) as number) - (taByteOffset.call(made) as number)) / perElement : (taLength.call(made) as number);
          if (most > MAX_ARRAY_SLOTS) tooLong(`new ${name}`, most);
          return made;
        }
      }
      return construct(real, args, target);
    },
  }[name]!;
  replaceConstructor(name, real, guarded);
  bounded.set(name, guarded);
}

/**
 * Put `guarded` where the global constructor `real` was, as `real` itself to anyone who looks: its
 * statics, prototype and length, the prototype's `constructor`, and the global `name`.
 */
function replaceConstructor(name: string, real: Function, guarded: Function): void {
  Object.setPrototypeOf(guarded, getProto(real));
  for (const key of Reflect.ownKeys(real)) {
    if (key === 'name' || key === 'length' || key === 'prototype') continue;
    Object.defineProperty(guarded, key, gopd(real, key)!);
  }
  Object.defineProperty(guarded, 'prototype', { value: real.prototype });
  Object.defineProperty(guarded, 'length', { value: real.length });
  Object.defineProperty(real.prototype, 'constructor', { ...gopd(real.prototype, 'constructor'), value: guarded });
  Object.defineProperty(globalThis, name, { ...gopd(globalThis, name), value: guarded });
}

/**
 * sort and toSorted on `owner`: bounded by the receiver's length, and without a comparator they compare
 * with `order` (the language's own, written in JavaScript), which the watchdog can stop.
 */
function guardSort(owner: object, label: string, order: (x: never, y: never) => number): void {
  for (const name of ['sort', 'toSorted'] as const)
    replace(owner, name, (original) => ({
      [name](this: unknown, compare?: unknown) {
        if (feedDepth === 0) return apply(original, this, arguments);
        checkLength(`${label}.${name}`, this);
        return apply(original, this, [compare === undefined ? order : compare]);
      },
    })[name]!);
}

const BOUND = Symbol('molt.bounded');

/**
 * What a RegExp made from feed code's `pattern` is made from: a RegExp as it is (its pattern was
 * bounded when it was made: a literal by the size of the release, the others here); anything else
 * read once, as the constructor would read it (a RegExp-like's source and flags, else the pattern as a
 * string), and refused past MAX_PATTERN.
 */
function patternArgs(pattern: unknown, rest: IArguments): unknown[] {
  const flags = rest[1];
  if (pattern === undefined || types.isRegExp(pattern)) return [...rest];
  let source: unknown = pattern;
  let given = flags;
  if ((typeof pattern === 'object' || typeof pattern === 'function') && pattern !== null && (pattern as { [Symbol.match]?: unknown })[Symbol.match]) {
    source = (pattern as { source?: unknown }).source;
    if (flags === undefined) given = (pattern as { flags?: unknown }).flags;
  }
  const text = source === undefined ? '' : textOf('RegExp', source, MAX_PATTERN, 'characters');
  return given === undefined ? [text] : [text, given];
}

/**
 * globalThis.RegExp, bounded while feed code runs (patternArgs). SES builds every compartment's RegExp
 * (and the one on RegExp.prototype.constructor) over the RegExp it finds when it loads, so this is
 * installed before SES is imported (pattern.ts); the host's own calls pass through unchanged. The
 * string methods that make a RegExp of a string themselves are bounded in guardBuiltins.
 */
export function boundRegExp(): void {
  const real = RegExp;
  // (a second instance of this module, in the same realm, finds the global bounded already)
  if ((real as unknown as { [BOUND]?: true })[BOUND]) return;
  const guarded = function RegExp(this: unknown, pattern?: unknown): unknown {
    const args = feedDepth === 0 ? arguments : patternArgs(pattern, arguments);
    return new.target === undefined ? apply(real, undefined, args as unknown[]) : construct(real, args as unknown[], new.target);
  };
  replaceConstructor('RegExp', real, guarded);
  Object.defineProperty(guarded, BOUND, { value: true });
}

let installed = false;

/** Install the guards on the shared intrinsics, once, before lockdown freezes them. */
export function guardBuiltins(): void {
  if (installed) return;
  installed = true;
  const AP = Array.prototype;
  guardByReceiver(AP, 'Array.prototype', BY_RECEIVER, BY_RECEIVER_WHOLE);
  guardSearches(AP);

  guardSort(AP, 'Array.prototype', defaultCompare);

  replace(AP, 'concat', (original) => ({ f(this: unknown) {
    if (feedDepth !== 0) {
      // every object argument counts, spreadable or not: a getter could say no here and yes to concat
      let n = lengthOf('Array.prototype.concat', this);
      for (let i = 0; i < arguments.length; i++) {
        const a: unknown = arguments[i];
        if (typeof a === 'object' && a !== null) n += lengthOf('Array.prototype.concat', a);
      }
      if (n > MAX_ARRAY_SLOTS) tooLong('Array.prototype.concat', n);
    }
    return apply(original, this, arguments);
  } }).f);

  // flat walks the arrays inside too, to its depth: count them first (in JavaScript, interruptible)
  replace(AP, 'flat', (original) => ({ f(this: unknown, depth?: unknown) {
    if (feedDepth !== 0) {
      checkLength('Array.prototype.flat', this);
      const d = depth === undefined ? 1 : Math.trunc(Number(depth)) || 0;
      let n = 0;
      const count = (a: unknown, level: number): void => {
        const len = lengthOf('Array.prototype.flat', a);
        n += len;
        if (n > MAX_ARRAY_SLOTS) tooLong('Array.prototype.flat', n);
        if (level >= d) return;
        for (let i = 0; i < len; i++) {
          const v = (a as Record<number, unknown>)[i];
          if (isArray(v)) count(v, level + 1);
        }
      };
      count(this, 0);
    }
    return apply(original, this, arguments);
  } }).f);

  // flatMap flattens what its callback returns: each is checked as it comes back
  replace(AP, 'flatMap', (original) => ({ f(this: unknown, fn?: unknown, thisArg?: unknown) {
    if (feedDepth === 0 || typeof fn !== 'function') return apply(original, this, arguments);
    checkLength('Array.prototype.flatMap', this);
    return apply(original, this, [
      function (this: unknown) {
        const r: unknown = apply(fn as Method, thisArg, arguments);
        if (isArray(r)) checkLength('Array.prototype.flatMap (what its callback returned)', r);
        return r;
      },
    ]);
  } }).f);

  replace(Array, 'from', (original) => ({ f(this: unknown, items?: unknown, map?: unknown, thisArg?: unknown) {
    if (feedDepth !== 0) checkLength('Array.from', items);
    return original.call(this, items, map, thisArg);
  } }).f);

  // the receiver becomes a string once, here (textOf). These
  // rewrite text character by character in C++, dearer a character than a slot: over 2^28 characters,
  // normalize('NFD') held the process 6.1 s, toLocaleUpperCase 1.1 s; and a search that finds nothing
  // reads it all (indexOf over 2^28 characters, 1.7 s)
  // (and, found by releases written to break the kernel, 250 ms handlers held for: toUpperCase 3.8 s over
  // 2^28 two-byte characters, toLowerCase 5.1 s over 2^27, trim 2.1 s over 2^29, replace with a string
  // that is not there 5.8 s over 2^29, localeCompare 1.9 s over two of 2^28)
  const receivers = [
    ['normalize', MAX_TEXT, 'characters'], ['toLocaleUpperCase', MAX_TEXT, 'characters'], ['toLocaleLowerCase', MAX_TEXT, 'characters'],
    ['toUpperCase', MAX_TEXT, 'characters'], ['toLowerCase', MAX_TEXT, 'characters'],
    // toWellFormed over 2^28 lone surrogates held a 250 ms handler 4.5 s (2.4 s past making the text
    // flat); isWellFormed reads it all like a search
    ['toWellFormed', MAX_TEXT, 'characters'], ['isWellFormed', MAX_ARRAY_SLOTS, 'characters'],
    ['trim', MAX_ARRAY_SLOTS, 'characters'], ['trimStart', MAX_ARRAY_SLOTS, 'characters'], ['trimEnd', MAX_ARRAY_SLOTS, 'characters'],
    ['indexOf', MAX_ARRAY_SLOTS, 'characters'], ['lastIndexOf', MAX_ARRAY_SLOTS, 'characters'], ['includes', MAX_ARRAY_SLOTS, 'characters'],
  ] as const;
  for (const [name, max, unit] of receivers)
    replace(String.prototype, name, (original) => ({ f(this: unknown, a?: unknown, b?: unknown) {
      if (feedDepth === 0 || this === null || this === undefined) return original.call(this, a, b);
      return original.call(textOf(`String.prototype.${name}`, this, max, unit), a, b);
    } }).f);
  // what a string method hands over to its argument (a RegExp, or anything with a method under `symbol`)
  const handsOver = (value: unknown, symbol: symbol) => (typeof value === 'object' || typeof value === 'function') && value !== null && (value as Record<symbol, unknown>)[symbol] != null;
  // a string to find and one to put (MAX_REPLACE); a RegExp or anything else that says how it replaces
  // (Symbol.replace), or a function to call, goes its own way
  replace(String.prototype, 'replaceAll', (original) => ({ f(this: unknown, search?: unknown, replacement?: unknown) {
    if (feedDepth === 0 || this === null || this === undefined || typeof replacement === 'function' || handsOver(search, Symbol.replace)) return original.call(this, search, replacement);
    return original.call(textOf('String.prototype.replaceAll', this, MAX_REPLACE, 'characters'), search, replacement);
  } }).f);
  // split with a string makes a string of every piece in one loop no watchdog stops, as join does of
  // every slot: a 250 ms handler's 'x'.repeat(2 ** 25).split('x') held the process 13.3 s (3.8 s of
  // CPU, on a machine busy with other work), split('') 4.0 s (1.8 s). It takes at most MAX_KEYS
  // characters (0.1 s of CPU). A RegExp (anything that says how it splits: Symbol.split) runs
  // JavaScript between matches, where the watchdog reaches, and keeps the bound of a walk
  replace(String.prototype, 'split', (original) => ({ f(this: unknown, separator?: unknown, limit?: unknown) {
    if (feedDepth === 0 || this === null || this === undefined) return original.call(this, separator, limit);
    const whole = handsOver(separator, Symbol.split);
    return original.call(textOf('String.prototype.split', this, whole ? MAX_ARRAY_SLOTS : MAX_KEYS, whole ? 'slots' : 'characters'), separator, limit);
  } }).f);
  // A spread of a string (`[...text]`, syntax) is copied into the new array in one step when V8 finds
  // the string's iterator untouched: a 250 ms handler's `[...'x'.repeat(2 ** 25 - 64)]` held the process
  // 6.5 s (1.7 s of CPU, on a busy machine). Iterating through a method of the language's own that is
  // not the built-in itself takes V8's general path, one character a step, where the watchdog reaches
  // (`[...'x'.repeat(2 ** 24)]`: 105 ms of CPU under a 250 ms limit, against 1.0 s before). The same
  // method in every way but that; the host's own spreads of strings take that path too (rare, short).
  const iterate = String.prototype[Symbol.iterator];
  Object.defineProperty(String.prototype, Symbol.iterator, {
    ...gopd(String.prototype, Symbol.iterator),
    value: Object.defineProperties({ [Symbol.iterator](this: unknown) { return iterate.call(this); } }[Symbol.iterator], { name: { value: '[Symbol.iterator]' }, length: { value: 0 } }),
  });
  // replace with a string to find reads the text like indexOf until it finds it (a RegExp or a function
  // goes its own way, where the watchdog reaches)
  replace(String.prototype, 'replace', (original) => ({ f(this: unknown, search?: unknown, replacement?: unknown) {
    if (feedDepth === 0 || this === null || this === undefined || handsOver(search, Symbol.replace)) return original.call(this, search, replacement);
    return original.call(textOf('String.prototype.replace', this, MAX_ARRAY_SLOTS, 'characters'), search, replacement);
  } }).f);
  // two texts compared in one ICU call
  replace(String.prototype, 'localeCompare', (original) => ({ f(this: unknown, that?: unknown, locales?: unknown, options?: unknown) {
    if (feedDepth === 0 || this === null || this === undefined) return original.call(this, that, locales, options);
    return original.call(textOf('String.prototype.localeCompare', this, MAX_TEXT, 'characters'), textOf('String.prototype.localeCompare', that, MAX_TEXT, 'characters'), locales, options);
  } }).f);
  // a string (or anything but a RegExp, or an object that says how it matches) becomes a RegExp inside
  // these, made by the language's own constructor: bounded here as the global one is (boundRegExp)
  const matchers = [['match', Symbol.match], ['matchAll', Symbol.matchAll], ['search', Symbol.search]] as const;
  for (const [name, symbol] of matchers)
    replace(String.prototype, name, (original) => ({ f(this: unknown, pattern?: unknown) {
      if (feedDepth === 0 || pattern === undefined || pattern === null || handsOver(pattern, symbol)) return original.call(this, pattern);
      return original.call(this, textOf(`String.prototype.${name}`, pattern, MAX_PATTERN, 'characters'));
    } }).f);
  // likewise: encodeURIComponent held the process 6.1 s over 2^28 characters, decodeURIComponent 0.9 s
  // over 2^27 escapes
  for (const name of ['encodeURI', 'encodeURIComponent', 'decodeURI', 'decodeURIComponent', 'escape', 'unescape'] as const)
    replace(globalThis, name, (original) => ({ f(this: unknown, value?: unknown) {
      if (feedDepth === 0) return original(value);
      return original(textOf(name, value, MAX_TEXT, 'characters'));
    } }).f);

  // a template's raw strings, as many as their length says, each read and made a string (~0.35 us):
  // String.raw({ raw: { length: 2 ** 40 } }) held the process for good, of 2^25 11.7 s (read once, and
  // handed on as read)
  replace(String, 'raw', (original) => ({ f(this: unknown, template?: unknown) {
    if (feedDepth === 0 || template === null || template === undefined) return apply(original, this, arguments);
    const raw = (template as { raw?: unknown }).raw;
    checkLength('String.raw', raw, MAX_KEYS, 'strings');
    const args = [{ raw }];
    for (let i = 1; i < arguments.length; i++) args.push(arguments[i]);
    return apply(original, this, args);
  } }).f);

  // a BigInt made without BigInt (a stand-in in feed code, sandbox.ts) or a literal (syntax.ts)
  for (const name of ['getBigInt64', 'getBigUint64'] as const)
    replace(DataView.prototype, name, (original) => ({ f(this: unknown) {
      if (feedDepth !== 0) throw new TypeError(`DataView.prototype.${name}: feed code may not make a BigInt (its arithmetic runs in one step that nothing can interrupt); the state holds numbers`);
      return apply(original, this, arguments);
    } }).f);

  // The symbol registry is the process's, for good: V8 never collects a key registered there, and
  // loading a release again frees none. Measured: a handler that registered twenty keys of 1 MB a
  // command (five of ten ran, three of them out of time) left 98 MB after the kernel closed and the
  // heap was collected; repeated, the heap's marks would refuse every write, then every command,
  // until a restart (which loses the feed). Feed code may register keys of at most MAX_SYMBOL_KEY
  // characters, and at most MAX_SYMBOLS of them in the life of the process (a release's immer
  // registers three).
  const registered = new Set<string>();
  replace(Symbol, 'for', (original) => ({ f(this: unknown, key?: unknown) {
    if (feedDepth === 0 || typeof key === 'symbol') return original(key as string);
    const k = String(key);
    if (k.length > MAX_SYMBOL_KEY)
      throw new RangeError(`Symbol.for: feed code may register a key of at most ${MAX_SYMBOL_KEY} characters (the registry keeps every key for the life of the process); this one has ${k.length.toLocaleString('en')}`);
    if (!registered.has(k)) {
      if (registered.size >= MAX_SYMBOLS)
        throw new RangeError(`Symbol.for: feed code may register at most ${MAX_SYMBOLS.toLocaleString('en')} keys in the life of the process (the registry keeps every key for good); keep data in the state`);
      registered.add(k);
    }
    return original(k);
  } }).f);

  // a replacer array's entries become the keys to write, read one by one: of length 2^32 - 1 (holes)
  // it held the process for good, of 2^25 1.1 s
  replace(JSON, 'stringify', (original) => ({ f(this: unknown, value?: unknown, replacer?: unknown, space?: unknown) {
    if (feedDepth !== 0 && isArray(replacer)) checkLength('JSON.stringify', replacer, MAX_KEYS, 'keys');
    return original(value, replacer, space);
  } }).f);

  replace(JSON, 'parse', (original) => ({ f(this: unknown, text?: unknown, reviver?: unknown) {
    if (feedDepth === 0) return original.call(this, text, reviver);
    return original.call(this, textOf('JSON.parse', text), reviver);
  } }).f);

  // the kernel's own plain walk, immer and msgpackr call these for every command: one plain call each
  for (const name of ['keys', 'values', 'entries', 'getOwnPropertyNames', 'getOwnPropertyDescriptors'] as const)
    replace(Object, name, (original) => ({ f(this: unknown, o?: unknown) {
      if (feedDepth !== 0) checkKeys(`Object.${name}`, o);
      return original(o);
    } }).f);
  replace(Reflect, 'ownKeys', (original) => ({ f(this: unknown, o?: unknown) {
    if (feedDepth !== 0) checkKeys('Reflect.ownKeys', o);
    return original(o);
  } }).f);
  for (const name of ['defineProperties', 'create'] as const)
    replace(Object, name, (original) => ({ f(this: unknown, o?: unknown, properties?: unknown) {
      if (feedDepth !== 0) checkKeys(`Object.${name}`, properties);
      return original(o, properties);
    } }).f);
  replace(Object, 'assign', (original) => ({ f(this: unknown) {
    if (feedDepth !== 0) for (let i = 1; i < arguments.length; i++) checkKeys('Object.assign', arguments[i]);
    return apply(original, this, arguments);
  } }).f);

  // a String object's indices are keys, each made a string to freeze or check it: Object.freeze of one
  // of 2^28 characters held the process 6.3 s
  hostFreeze = Object.freeze;
  for (const name of ['freeze', 'seal', 'isFrozen', 'isSealed'] as const)
    replace(Object, name, (original) => ({ f(this: unknown, o?: unknown) {
      if (feedDepth !== 0 && types.isStringObject(o)) checkKeys(`Object.${name}`, o);
      return original(o);
    } }).f);

  for (const name of [...TYPED, 'ArrayBuffer']) boundConstructor(name);
  // the same methods (replace() passes over those typed arrays lack: shift, splice, toSpliced, unshift)
  guardByReceiver(TypedArrayPrototype, 'TypedArray.prototype', BY_RECEIVER, BY_RECEIVER_WHOLE);
  replace(TypedArrayPrototype, 'set', (original) => ({ f(this: unknown, source?: unknown, offset?: unknown) {
    if (feedDepth !== 0) checkLength('TypedArray.prototype.set', source);
    return original.call(this, source, offset);
  } }).f);
  guardSort(TypedArrayPrototype, 'TypedArray.prototype', numericCompare);
  // a call spread from an array-like: V8 copies the whole length before it finds the stack too small
  replace(Function.prototype, 'apply', () => ({ f(this: unknown, thisArg?: unknown, args?: unknown) {
    if (feedDepth !== 0 && args !== null && args !== undefined) checkLength('Function.prototype.apply', args, MAX_APPLY_ARGS);
    return apply(this as Method, thisArg, args === null || args === undefined ? [] : (args as unknown[]));
  } }).f);
  replace(Reflect, 'apply', (original) => ({ f(this: unknown, target?: unknown, thisArg?: unknown, args?: unknown) {
    if (feedDepth !== 0) checkLength('Reflect.apply', args, MAX_APPLY_ARGS);
    return original(target, thisArg, args);
  } }).f);
  replace(Reflect, 'construct', (original) => ({ f(this: unknown, target?: unknown, args?: unknown) {
    if (feedDepth !== 0) checkLength('Reflect.construct', args, MAX_APPLY_ARGS);
    return apply(original, this, arguments);
  } }).f);
}
