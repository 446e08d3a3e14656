/**
 * Imported before SES, which captures Object.freeze when it loads and freezes every shared built-in
 * with it at lockdown. This module lends it a freeze that, for a few prototypes, freezes just as hard
 * but property by property.
 *
 * Why: V8 gives an object frozen by Object.freeze a "frozen elements" kind, and once a prototype has
 * one, every keyed store into an object below it takes a slow path in code compiled after it. After
 * lockdown that was all code: a byte store into a Buffer 25x slower (0.05 -> 1.3 us for 28 bytes),
 * msgpackr's encoding of a reply 1 -> 6-8 us, ws's unmasking of every frame too. An object made
 * non-extensible and given non-writable, non-configurable properties one by one is frozen all the same
 * (the spec's SetIntegrityLevel takes these very steps; Object.isFrozen says true, nothing can change
 * it), and V8 keeps its elements kind, so stores below it stay fast. Its price: V8 keeps its properties
 * in a dictionary, and calling its methods gets slower (Array.prototype.map 30x). So only the
 * prototypes above the objects whose elements the server writes most, Object.prototype and the typed
 * arrays' (Buffers), are frozen by property; every other built-in (Array.prototype and String.prototype
 * included, whose methods are hot) by Object.freeze.
 *
 * The original Object.freeze is put back before lockdown (sandbox.ts calls `restoreFreeze`), so
 * everything else, release code included, sees the built-in one.
 */
const { freeze, preventExtensions, defineProperty, getOwnPropertyDescriptor } = Object;
const { ownKeys } = Reflect;

function freezeByProperty<T>(value: T): T {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return value;
  const object = value as object;
  preventExtensions(object);
  for (const key of ownKeys(object)) {
    const d = getOwnPropertyDescriptor(object, key);
    if (d === undefined) continue;
    if ('value' in d) d.writable = false;
    d.configurable = false;
    defineProperty(object, key, d);
  }
  return value;
}

const TypedArray = Object.getPrototypeOf(Uint8Array) as { prototype: object };
const BY_PROPERTY = new Set<unknown>([
  Object.prototype,
  TypedArray.prototype,
  ...[Uint8Array, Uint8ClampedArray, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array, BigUint64Array, BigInt64Array].map((T) => T.prototype),
  Buffer.prototype,
]);

Object.freeze = <T>(value: T): Readonly<T> => (BY_PROPERTY.has(value) ? freezeByProperty(value) : freeze(value));

/** Give Object.freeze back its built-in self (once SES has taken ours). */
export function restoreFreeze(): void {
  Object.freeze = freeze;
}
