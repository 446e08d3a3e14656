/**
 * What the last few keys mapped to, by identity: the cache for work done once per broadcast (an
 * event's frame, its encoding, its WebSocket framing). The kernel hands an event to every connection
 * in one loop, so every socket but the first finds it here; a frame asked for later (a socket that was
 * paused, a `$since`) is made again, which only costs the work again.
 *
 * Not a WeakMap. V8 marks a WeakMap's entries as ephemerons, looked at again until marking reaches a
 * fixpoint, and an entry goes only when a full collection finds its key dead. These tables were keyed
 * by events the event log had kept into the old generation, and by their frames, themselves keys of
 * the next table: each held every event since the last full collection (14k live entries each, 1 MB
 * tables, in a heap snapshot at 100k posts with 50 clients). Traced with --trace-gc-nvp at 1M posts,
 * the ephemeron part of a full collection's pause went from 3.4-5.6 ms to 0.4-0.5 ms without them.
 */
export class Last<K extends object, V> {
  readonly #keys: (K | undefined)[];
  readonly #values: (V | undefined)[];
  #next = 0;

  constructor(size = 8) {
    this.#keys = new Array<K | undefined>(size).fill(undefined);
    this.#values = new Array<V | undefined>(size).fill(undefined);
  }

  get(key: K): V | undefined {
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] === key) return this.#values[i];
    return undefined;
  }

  /** Remember `value` for `key` in place of the oldest, and return it. */
  set(key: K, value: V): V {
    this.#keys[this.#next] = key;
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.#keys.length;
    return value;
  }
}
