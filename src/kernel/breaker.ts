/**
 * The circuit breaker: a command type whose handler keeps running out its time is set aside for a while.
 *
 * A handler stopped by the watchdog has held the whole process for its limit (250 ms), and one built-in
 * call that the watchdog cannot interrupt holds it for longer: flattening a string of 2^29 characters
 * built by doubling took 4.7 s here. A release that does so on every `like` would hold every other
 * command, and the operator's rollback too: the migration runs its slices between batches, and each
 * batch would be one such like. So after `after` timeouts in a row of one type (nothing of that type
 * finished in between), that type is refused at once (E_CIRCUIT_OPEN, with `retryMs`) for `openMs`;
 * then one command of it is let through, as circuit breakers do ("half-open"): if it finishes in time
 * the type is served again, if it runs out its time too, the type is set aside for twice as long as the
 * last time (at most 8x). Other types are served throughout. A new release starts with none set aside.
 *
 * What counts is time, not errors: a handler that throws or refuses has finished in time.
 *
 * A handler slow for some input only never gets far here (the commands in between finish): the
 * transport keeps the same count per client address, where nothing that finishes counts
 * (src/transport/aside.ts).
 */
const MAX_DOUBLING = 8;

/** How long something set aside for the `times`-th time stays aside: `openMs`, twice as long each time
 *  after the first, at most 8x. (The transport's per-address count doubles the same way.) */
export function asideMs(openMs: number, times: number): number {
  return openMs * Math.min(MAX_DOUBLING, 2 ** (times - 1));
}

/** Milliseconds from `now` until `until`, rounded up; 0 once it has passed. */
export function msUntil(until: number, now: number): number {
  return Math.max(0, Math.ceil(until - now));
}

interface Lane {
  /** Timeouts in a row. Past `after`, each one is a command let through that timed out again (the others
   *  were refused), so the type has been set aside `timeouts - after + 1` times. */
  timeouts: number;
  /** Set aside until then (performance.now()); 0 while served. */
  until: number;
}

export interface Circuit {
  command: string;
  timeouts: number;
  /** How long it stays set aside from now, ms; 0 when its next command is let through. */
  retryMs: number;
}

export class Breaker {
  readonly #lanes = new Map<string, Lane>();
  #release = '';
  /** The moment the current batch began: a type is set aside for the whole batch or not at all. */
  #at = 0;

  constructor(
    readonly after: number,
    readonly openMs: number,
  ) {}

  /** A batch of `release` begins at `at`: what it refuses is decided now. */
  begin(release: string, at: number): void {
    if (release !== this.#release) {
      this.#lanes.clear();
      this.#release = release;
    }
    this.#at = at;
  }

  /** How long `type` stays set aside, ms, or 0 when it is served now. */
  refuses(type: string): number {
    return this.#lanes.size === 0 ? 0 : this.openFor(type, this.#release, this.#at);
  }

  /** How long `type` of `release` stays set aside from `now`, ms (0: served), outside a batch. */
  openFor(type: string, release: string, now: number): number {
    const lane = release === this.#release ? this.#lanes.get(type) : undefined;
    return lane === undefined ? 0 : msUntil(lane.until, now);
  }

  /** A command of `type` ran its handler to the end in time: the type is served again. */
  finished(type: string): void {
    if (this.#lanes.size > 0) this.#lanes.delete(type);
  }

  /** A command of `type` ran out its time at `now`. Returns how long the type is now set aside (ms), or
   *  0 when it is not (fewer timeouts in a row than `after`, or the breaker is off). */
  timedOut(type: string, now: number): number {
    if (this.after === 0) return 0;
    const lane = this.#lanes.get(type) ?? { timeouts: 0, until: 0 };
    this.#lanes.set(type, lane);
    lane.timeouts++;
    if (lane.timeouts < this.after) return 0;
    const ms = asideMs(this.openMs, lane.timeouts - this.after + 1);
    lane.until = now + ms;
    return ms;
  }

  /** The types of `release` with timeouts in a row, for status. */
  circuits(release: string, now: number): Circuit[] {
    if (release !== this.#release) return [];
    return [...this.#lanes].map(([command, lane]) => ({ command, timeouts: lane.timeouts, retryMs: msUntil(lane.until, now) }));
  }
}
