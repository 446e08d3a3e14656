/**
 * Imported before SES, which captures Object.freeze when it loads and freezes every shared built-in
 * with it at lockdown. This module lends it a freeze that freezes just as hard, property by property.
 *
 * Why: V8 gives an object frozen by Object.freeze a "frozen elements" kind, and once any object on a
 * prototype chain has one, every keyed store into an object below it (a Buffer, a Uint8Array, an
 * array that grows) takes a slow path in code compiled after it. After lockdown that was all code: a
 * byte store into a Buffer 25x slower (measured 0.05 -> 1.3 us for 28 bytes), msgpackr's encoding of a
 * reply 1 -> 6-8 us, ws's unmasking of every frame too. An object made non-extensible and given
 * non-writable, non-configurable properties one by one is frozen all the same (the spec's
 * SetIntegrityLevel takes these very steps; Object.isFrozen says true, and nothing can change it),
 * but V8 keeps its elements kind, and stores below it stay fast.
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

Object.freeze = freezeByProperty;

/** Give Object.freeze back its built-in self (once SES has taken ours). */
export function restoreFreeze(): void {
  Object.freeze = freeze;
}
