/**
 * Commands waiting to be served: one lane per connection (plus one for the kernel's own system
 * commands), served round-robin. Each round takes at most one command from every lane that has one,
 * so a connection with a thousand commands waiting delays another connection's next command by one
 * command, not by a thousand. Order within a lane is arrival order: each socket's order is kept.
 *
 * Reading is separate from removing, for the watchdog: a batch walks a Cursor (which changes nothing
 * here) inside the watchdog window, then commits the number of commands it served. A watchdog that
 * fires in the middle of a walk loses nothing.
 */
interface Lane<T> {
  readonly key: unknown;
  items: T[];
  /** Index of the lane's oldest item still waiting. */
  head: number;
}

export class FairQueue<T> {
  readonly #lanes = new Map<unknown, Lane<T>>();
  /** Lanes with something waiting, in the order the next round visits them. */
  #ring: Lane<T>[] = [];
  #length = 0;

  /** `lane` names the lane of an item: its connection, for commands. */
  constructor(private readonly lane: (item: T) => unknown) {}

  /** Commands waiting, across all lanes. */
  get length(): number {
    return this.#length;
  }

  /** Whether anything waits in this lane. */
  has(key: unknown): boolean {
    return this.#lanes.has(key);
  }

  push(item: T): void {
    const key = this.lane(item);
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = { key, items: [], head: 0 };
      this.#lanes.set(key, lane);
      this.#ring.push(lane);
    }
    lane.items.push(item);
    this.#length++;
  }

  /** A round-robin walk over what waits now. It removes nothing: see commit(). */
  cursor(): Cursor<T> {
    return new Cursor(this.#ring);
  }

  /**
   * Remove the first `served` items the cursor handed out; the next round starts after the last one,
   * or at the lane of `first` (an item the walk left waiting, whose turn it was) when it is given.
   */
  commit(cursor: Cursor<T>, served: number, first?: T): void {
    if (served === 0) return;
    const picks = cursor.picks;
    for (let i = 0; i < served; i++) picks[i]!.head++;
    this.#length -= served;
    // Rotate: the lane after the last one served goes first next time (or the lane of `first`).
    const at = first === undefined ? -1 : this.#ring.indexOf(this.#lanes.get(this.lane(first))!);
    const last = at >= 0 ? at - 1 : this.#ring.indexOf(picks[served - 1]!);
    const rotated = last < 0 && at < 0 ? this.#ring : [...this.#ring.slice(last + 1), ...this.#ring.slice(0, last + 1)];
    this.#ring = [];
    for (const lane of rotated) {
      if (lane.head >= lane.items.length) {
        this.#lanes.delete(lane.key);
        continue;
      }
      if (lane.head > 1024 && lane.head * 2 > lane.items.length) {
        lane.items = lane.items.slice(lane.head);
        lane.head = 0;
      }
      this.#ring.push(lane);
    }
  }

  /** Remove and return everything that waits, each lane in order. */
  takeAll(): T[] {
    const all: T[] = [];
    for (const lane of this.#ring) for (let i = lane.head; i < lane.items.length; i++) all.push(lane.items[i]!);
    this.#lanes.clear();
    this.#ring = [];
    this.#length = 0;
    return all;
  }
}

/** One walk: round after round over the lanes, one item from each lane per round. */
export class Cursor<T> {
  /** The lane of each item handed out, in order. */
  readonly picks: Lane<T>[] = [];
  #round: Lane<T>[];
  #nextRound: Lane<T>[] = [];
  #i = 0;
  readonly #taken = new Map<Lane<T>, number>();

  constructor(ring: readonly Lane<T>[]) {
    this.#round = [...ring];
  }

  /**
   * The next item, round-robin. With `accept`, a lane whose next item is not accepted leaves this
   * walk (its later items wait behind that one): what the walk hands out is still, in every lane, a
   * prefix of that lane.
   */
  next(accept?: (item: T) => boolean): T | undefined {
    for (;;) {
      if (this.#i >= this.#round.length) {
        if (this.#nextRound.length === 0) return undefined;
        this.#round = this.#nextRound;
        this.#nextRound = [];
        this.#i = 0;
      }
      const lane = this.#round[this.#i++]!;
      const taken = this.#taken.get(lane) ?? 0;
      const at = lane.head + taken;
      if (at >= lane.items.length) continue;
      if (accept && !accept(lane.items[at]!)) continue;
      this.#taken.set(lane, taken + 1);
      if (at + 1 < lane.items.length) this.#nextRound.push(lane);
      this.picks.push(lane);
      return lane.items[at];
    }
  }
}
