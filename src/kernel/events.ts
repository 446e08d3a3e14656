/**
 * The event log: every feed event numbered, gapless per process and across upgrades, and the newest
 * kept (bounded in count and in bytes, the oldest going first) so a client that missed some can ask
 * for them with `$since`.
 */
import type { FeedEvent, UserId } from '../contract.ts';
import type { Numbered, Result } from './notices.ts';
import { estimateBytes } from './plain.ts';
import { Ring } from './ring.ts';

interface Kept {
  numbered: Numbered;
  /** Who may see it: everyone when undefined. */
  to: readonly UserId[] | undefined;
  bytes: number;
}

export class EventLog {
  #seq = 0;
  readonly #kept: Ring<Kept>;

  readonly #maxReplyBytes: number;

  constructor(limits: { eventBacklog: number; backlogBytes: number; maxReplyBytes: number }) {
    this.#kept = new Ring(limits.eventBacklog, limits.backlogBytes);
    this.#maxReplyBytes = limits.maxReplyBytes;
  }

  /** The sequence number of the newest event (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  /** Number `event` (by feed `version`) and keep it; returns it with who may see it. */
  append(event: FeedEvent, version: number): Kept {
    const { to, ...rest } = event;
    // who may see it is kept too: counted as the heap holds it (a slot is 8 bytes however short the id),
    // or a list of 200,000 empty ids an event filled 800 MB that the backlog counted as nothing
    const bytes = estimateBytes(rest) + (to ? estimateBytes(to) + 8 * to.length : 0);
    const kept: Kept = { numbered: { seq: ++this.#seq, version, event: rest }, to, bytes };
    this.#kept.push(kept);
    return kept;
  }

  /**
   * About how many bytes a `$since` from `seq` would carry (everyone's events counted, stopping past
   * `cap`): what the batch that answers it will have to send (kernel.ts).
   */
  bytesAfter(seq: unknown, cap: number): number {
    if (!Number.isSafeInteger(seq) || (seq as number) < 0) return 0;
    const kept = this.#kept;
    const oldest = kept.at(0)?.numbered.seq ?? this.#seq + 1;
    let bytes = 0;
    for (let i = Math.max(0, (seq as number) + 1 - oldest); i < kept.length && bytes <= cap; i++) bytes += kept.at(i)!.bytes;
    return bytes;
  }

  /**
   * `$since`: the events after `seq` that `user` may see, or E_GAP when some of them are gone, or when
   * they are more than one reply may carry (the backlog keeps more bytes than a reply holds): either
   * way the client reloads the timeline.
   */
  since(seq: unknown, user: UserId | null): Result {
    if (!Number.isSafeInteger(seq) || (seq as number) < 0 || (seq as number) > this.#seq)
      return { ok: false, error: { code: 'E_BAD_COMMAND', message: `$since needs seq, an integer from 0 to ${this.#seq}` } };
    const after = seq as number;
    const kept = this.#kept;
    const oldest = kept.at(0)?.numbered.seq ?? this.#seq + 1;
    if (after + 1 < oldest) return { ok: false, error: { code: 'E_GAP', message: `events after ${after} are gone (oldest kept: ${oldest}); reload the timeline` } };
    const events: Numbered[] = [];
    let bytes = 0;
    // kept in order of seq, without gaps: start at the first one after `after`
    for (let i = Math.max(0, after + 1 - oldest); i < kept.length; i++) {
      const e = kept.at(i)!;
      if (e.to && (user === null || !e.to.includes(user))) continue;
      bytes += e.bytes;
      if (bytes > this.#maxReplyBytes)
        return { ok: false, error: { code: 'E_GAP', message: `the events after ${after} hold more than one reply may (${this.#maxReplyBytes.toLocaleString('en')} bytes); reload the timeline` } };
      events.push(e.numbered);
    }
    return { ok: true, data: { events, seq: this.#seq } };
  }
}
