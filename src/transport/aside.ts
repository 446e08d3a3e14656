/**
 * Command types set aside for one address: the per-address half of the circuit breaker.
 *
 * The kernel's breaker (src/kernel/breaker.ts) sets a type aside when its handler runs out its time on
 * every command of it. A handler that is slow only for some input (one post, one long text) runs out
 * its time only on the commands that ask for that input, and the ones in between finish in time, so
 * the type-wide count of timeouts in a row never gets far: a client that asks for that input again and
 * again holds the whole process for the handler's limit (250 ms) every time, and it chooses the
 * commands in between. So each address keeps its own count, where successes do not count (the client
 * chooses them), only time does:
 *
 * - `after` timeouts of one type within WINDOW_MS, and that type is refused for that address at once
 *   (E_CIRCUIT_OPEN, with retryMs) for `openMs`;
 * - after that, the first of its commands of the type that runs out its time again sets it aside at
 *   once, for twice as long as the last time (at most 8x);
 * - a type with no timeout from the address for MEMORY_MS is forgotten, and so is everything when
 *   another release runs (what was slow may be fixed);
 * - the address's timeouts of all types count too: `after` x ALL_FACTOR of them within WINDOW_MS, and
 *   every feed command from the address is set aside the same way (listed as the type `*`). Counted
 *   per type alone, a client that rotated through 200 types, each slow on some input, held the
 *   process 58.8 s of 60 with no type ever set aside (a release may name 1,000 types).
 *
 * Other addresses are served throughout, and until then the address's other types.
 */
import { asideMs, msUntil } from '../kernel/breaker.ts';

/** Timeouts count toward setting a type aside within this long, ms. */
export const WINDOW_MS = 60_000;
/** A type set aside once is watched this long after its last timeout, ms. */
export const MEMORY_MS = 10 * 60_000;
/** The address's timeouts of any type that set all of its commands aside: this many times `after`. */
export const ALL_FACTOR = 3;
/** How the address's lane of all types is named in the operator's status. */
export const ALL_TYPES = '*';

/** A command type set aside for one address, as the operator's status lists it. */
export interface AddressAside {
  address: string;
  command: string;
  /** Times it was set aside. */
  times: number;
  /** How long it stays set aside, ms; 0 when the address's next command of it runs. */
  retryMs: number;
}

const NONE = Object.freeze({ ms: 0, all: false });

interface Lane {
  /** When its last timeouts were (at most `after`), before it was first set aside. */
  times: number[];
  /** Set aside until then (performance.now()); 0 before the first time. */
  until: number;
  /** Times it was set aside. */
  trips: number;
  last: number;
}

export class Aside {
  /** By command type; ALL_TYPES is the address's lane of every type. */
  readonly #lanes = new Map<string, Lane>();
  #release = '';

  constructor(
    readonly after: number,
    readonly openMs: number,
  ) {}

  /** Timeouts of any type within WINDOW_MS that set all of the address's commands aside. */
  get allAfter(): number {
    return this.after * ALL_FACTOR;
  }

  /** Forget what another release did. */
  #on(release: string): void {
    if (release !== this.#release) {
      this.#lanes.clear();
      this.#release = release;
    }
  }

  /**
   * How long `type` stays set aside for this address, ms, or 0 when it is served; `all` when every
   * type is (the address's timeouts of all types).
   */
  refuses(type: string, release: string, now: number): { ms: number; all: boolean } {
    if (this.#lanes.size === 0) return NONE;
    this.#on(release);
    const all = this.#lanes.get(ALL_TYPES);
    const allMs = all === undefined ? 0 : msUntil(all.until, now);
    if (allMs > 0) return { ms: allMs, all: true };
    const lane = this.#lanes.get(type);
    return lane === undefined ? NONE : { ms: msUntil(lane.until, now), all: false };
  }

  /**
   * A command of `type` from this address ran out its time at `now`, under `release`. Returns how long
   * the type (or, `all`, every type) is now set aside for the address (ms), or 0 when it is not.
   */
  timedOut(type: string, release: string, now: number): { ms: number; all: boolean } {
    if (this.after === 0) return NONE;
    this.#on(release);
    const all = this.#count(ALL_TYPES, this.allAfter, now);
    const ms = this.#count(type, this.after, now);
    return all > 0 ? { ms: all, all: true } : { ms, all: false };
  }

  /** One more timeout in the lane `key`, set aside after `after` of them within WINDOW_MS: for how long. */
  #count(key: string, after: number, now: number): number {
    let lane = this.#lanes.get(key);
    if (lane === undefined) this.#lanes.set(key, (lane = { times: [], until: 0, trips: 0, last: now }));
    lane.last = now;
    if (lane.trips === 0) {
      lane.times.push(now);
      if (lane.times.length > after) lane.times.shift();
      if (lane.times.length < after || now - lane.times[0]! > WINDOW_MS) return 0;
      lane.times = [];
    }
    lane.trips++;
    const ms = asideMs(this.openMs, lane.trips);
    lane.until = now + ms;
    return ms;
  }

  /** The types set aside at least once and still watched under `release`: how often, and for how long
   *  from `now` (0: its next command is run). */
  list(release: string, now: number): Omit<AddressAside, 'address'>[] {
    if (this.#lanes.size > 0) this.#on(release);
    const out: Omit<AddressAside, 'address'>[] = [];
    for (const [command, lane] of this.#lanes) if (lane.trips > 0) out.push({ command, times: lane.trips, retryMs: msUntil(lane.until, now) });
    return out;
  }

  /** Forget the types that have not run out their time lately; true when nothing is kept. */
  sweep(now: number): boolean {
    for (const [type, lane] of this.#lanes) {
      const quiet = now - lane.last > (lane.trips === 0 ? WINDOW_MS : MEMORY_MS);
      if (quiet && lane.until <= now) this.#lanes.delete(type);
    }
    return this.#lanes.size === 0;
  }
}
