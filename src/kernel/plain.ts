import { die } from './errors.ts';

/**
 * The state cell holds plain data only: objects, arrays, strings, finite numbers, booleans and null.
 * That keeps it encodable (msgpack), comparable across V8 realms, and safe to freeze. This walk checks
 * that and deep-freezes in one pass. Already-frozen objects are skipped: they are subtrees shared with
 * the previous state (immer and careful migrations reuse them), which were checked when they entered.
 */
export function freezePlain(root: unknown, where: string, what: 'state' | 'reply' | 'events' = 'state'): void {
  // Replies and events are sent, not stored: msgpack carries undefined, so they may hold it.
  const allowUndefined = what !== 'state';
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) die('E_VALIDATE', `${where}: ${what} holds the number ${value}; only finite numbers are plain data`);
      continue;
    }
    if (value === undefined && allowUndefined) continue;
    if (typeof value !== 'object') die('E_VALIDATE', `${where}: ${what} holds ${value === undefined ? 'undefined' : `a ${typeof value}`}; only plain data may be ${what === 'state' ? 'stored' : 'sent'}`);
    if (Object.isFrozen(value)) continue;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) stack.push(value[i]);
    } else {
      const proto = Object.getPrototypeOf(value) as object | null;
      // Plain objects from any realm: their prototype is that realm's Object.prototype (or null).
      if (proto !== null && Object.getPrototypeOf(proto) !== null) {
        const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'an object with a prototype';
        die('E_VALIDATE', `${where}: ${what} holds a ${name}; only plain objects and arrays may be ${what === 'state' ? 'stored' : 'sent'}`);
      }
      for (const key in value) stack.push((value as Record<string, unknown>)[key]);
    }
    Object.freeze(value);
  }
}
