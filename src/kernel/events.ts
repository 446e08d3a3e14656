/**
 * The event log: every feed event numbered, gapless per process and across upgrades, and the newest
 * kept (bounded in count and in bytes, the oldest going first) so a client that missed some can ask
 * for them with `$since`.
 */
import type { FeedEvent, UserId } from '../contract.ts';
import type { Numbered, Result } from './notices.ts';
import { estimateBytes } from './plain.ts';

interface Kept {
  numbered: Numbered;
  /** Who may see it: everyone when undefined. */
  to: readonly UserId[] | undefined;
  bytes: number;
}

export class EventLog {
  #seq = 0;
  #kept: Kept[] = [];
  #head = 0;
  #bytes = 0;
  readonly #limits: { eventBacklog: number; backlogBytes: number };

  constructor(limits: { eventBacklog: number; backlogBytes: number }) {
    this.#limits = limits;
  }

  /** The sequence number of the newest event (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  /** Number `event` (by feed `version`) and keep it; returns it with who may see it. */
  append(event: FeedEvent, version: number): Kept {
    const { to, ...rest } = event;
    const kept: Kept = { numbered: { seq: ++this.#seq, version, event: rest }, to, bytes: estimateBytes(rest) };
    this.#kept.push(kept);
    this.#bytes += kept.bytes;
    const { eventBacklog, backlogBytes } = this.#limits;
    while (this.#kept.length - this.#head > eventBacklog || (this.#bytes > backlogBytes && this.#kept.length - this.#head > 1)) {
      this.#bytes -= this.#kept[this.#head]!.bytes;
      this.#kept[this.#head++] = undefined as unknown as Kept; // let it go
    }
    if (this.#head > 1024 && this.#head * 2 > this.#kept.length) {
      this.#kept = this.#kept.slice(this.#head);
      this.#head = 0;
    }
    return kept;
  }

  /** `$since`: the events after `seq` that `user` may see, or E_GAP when some of them are gone. */
  since(seq: unknown, user: UserId | null): Result {
    if (!Number.isSafeInteger(seq) || (seq as number) < 0 || (seq as number) > this.#seq)
      return { ok: false, error: { code: 'E_BAD_COMMAND', message: `$since needs seq, an integer from 0 to ${this.#seq}` } };
    const after = seq as number;
    const oldest = this.#kept[this.#head]?.numbered.seq ?? this.#seq + 1;
    if (after + 1 < oldest) return { ok: false, error: { code: 'E_GAP', message: `events after ${after} are gone (oldest kept: ${oldest}); reload the timeline` } };
    const events: Numbered[] = [];
    // kept in order of seq: start at the first one after `after`
    for (let i = this.#head + Math.max(0, after + 1 - oldest); i < this.#kept.length; i++) {
      const e = this.#kept[i]!;
      if (!e.to || (user !== null && e.to.includes(user))) events.push(e.numbered);
    }
    return { ok: true, data: { events, seq: this.#seq } };
  }
}
