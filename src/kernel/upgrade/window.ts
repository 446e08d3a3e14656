/**
 * The reversible window (OTP separates an installed release from a permanent one): after an upgrade
 * commits, the kernel keeps the release it replaced, the state as it was at the cut-over, and every
 * write served since with the context it ran in. Until the operator runs `molt permanent`, or a bound
 * passes (time, writes, bytes, or the heap nearing its limit), `molt rollback` goes back by replaying
 * those writes through the previous version on the previous state: nothing written since the upgrade is
 * lost, even when the step has no down. Writes the previous version refuses are the casualties, counted
 * (`commands`) and listed in the report, and accepted like any loss (--accept-drops commands=N).
 *
 * The replay runs the previous version's handlers, in the live process like any handler, in slices
 * that yield, while the feed keeps serving on the current version; what is written meanwhile joins the
 * window and is replayed too; the cut-over replays the last few and swaps.
 */
import type { Context } from '../../contract.ts';
import { MoltError } from '../errors.ts';
import { checkOutcome } from '../guard.ts';
import type { Served } from '../journal.ts';
import { Lineage } from '../lineage.ts';
import type { LoadedRelease } from '../release.ts';
import { describeThrown, runBounded } from '../sandbox.ts';

export interface WindowBounds {
  /** How long the window stays open after the upgrade, ms. */
  ms: number;
  /** Writes it keeps. */
  writes: number;
  /** Bytes of writes it keeps. */
  bytes: number;
}

/** Why a window closed, for status and logs. */
export type Closed = 'permanent' | 'time' | 'writes' | 'bytes' | 'memory' | 'upgrade' | 'rollback';

export class ReversibleWindow {
  readonly upgrade: string;
  /** The release the upgrade replaced, and the state at its cut-over. */
  readonly release: { version: number; hash: string };
  readonly state: unknown;
  readonly opened: number;
  readonly writes: Served[] = [];
  #bytes = 0;
  closed: Closed | null = null;

  constructor(upgrade: string, release: { version: number; hash: string }, state: unknown, opened: number, readonly bounds: WindowBounds) {
    this.upgrade = upgrade;
    this.release = release;
    this.state = state;
    this.opened = opened;
  }

  /** Record a write; false (and closed) when a bound passed. */
  add(write: Served, now: number): boolean {
    if (this.closed) return false;
    if (now - this.opened > this.bounds.ms) return this.close('time');
    if (this.writes.length >= this.bounds.writes) return this.close('writes');
    if (this.#bytes + write.bytes > this.bounds.bytes) return this.close('bytes');
    this.writes.push(write);
    this.#bytes += write.bytes;
    return true;
  }

  close(why: Closed): false {
    this.closed ??= why;
    this.writes.length = 0;
    return false;
  }

  expired(now: number): boolean {
    if (!this.closed && now - this.opened > this.bounds.ms) this.close('time');
    return this.closed !== null;
  }

  status(now: number) {
    return {
      upgrade: this.upgrade,
      back: this.release,
      writes: this.writes.length,
      bytes: this.#bytes,
      openedMs: now - this.opened,
      closesInMs: Math.max(0, this.bounds.ms - (now - this.opened)),
      limits: this.bounds,
    };
  }
}

export interface Casualty {
  type: string;
  user: string | null;
  at: number;
  error: string;
}

/**
 * Replays writes through `release` from `state`, in slices. next(n) replays up to n more of `writes`
 * (the list may grow meanwhile). Each write runs under the handler's time limit with the checks a live
 * command gets; a refusal or failure is a casualty, and the state goes on without it.
 */
export class Replay {
  state: unknown;
  readonly casualties: Casualty[] = [];
  at = 0;

  /** The states this replay built and replaced (a handler may not go back to one). */
  readonly #lineage = new Lineage();

  /** `ms`: a write's time limit; `maxGrowthBytes`: what one write may add to the state (as live). */
  constructor(readonly release: LoadedRelease, state: unknown, readonly writes: readonly Served[], readonly ms: number, readonly maxGrowthBytes: number) {
    this.state = state;
  }

  get done(): boolean {
    return this.at >= this.writes.length;
  }

  /** Replays up to `n` writes, and none once `until` (performance.now()) has passed: a write takes up to
   *  the handler's limit, so a slice ends by time too, as a batch of commands does. */
  next(n: number, until = Infinity): number {
    let k = 0;
    while (k < n && this.at < this.writes.length && (k === 0 || performance.now() < until)) {
      this.#one(this.writes[this.at]!);
      this.at++;
      k++;
    }
    return k;
  }

  #one(w: Served): void {
    const release = this.release;
    const type = w.command.type;
    if (!w.caller.system && !release.feed.commands.includes(type)) {
      this.casualties.push({ type, user: w.caller.user, at: w.now, error: `v${release.version} does not handle '${type}'` });
      return;
    }
    let t = 0;
    // the same shape as a live command's context (kernel.ts)
    const ctx: Context = Object.freeze({ now: w.now, token: () => w.tokens[t++] ?? `replayed-${w.now}-${t}`, caller: w.caller, online: w.online });
    const state = this.state;
    try {
      // the checks a live command's new state gets (kernel.ts #step): plain data that stays a tree,
      // within its growth, built on the state it was given. Without them a replay committed what the
      // live process had refused: a state holding the one before twice (2^N nodes after N writes,
      // and the next upgrade's copy to the rehearsal never ended), 16 MB a write past a 4 MB bound.
      const next = runBounded((): { ok: true; state: unknown } | { ok: false; error: string } => {
        const outcome = checkOutcome(release.feed.handle(state, w.command, ctx), release.version, type);
        if ('error' in outcome) return { ok: false, error: `${outcome.error.code}: ${outcome.error.message}` };
        if (outcome.state !== state) this.#lineage.checkState(outcome.state, state, `feed v${release.version} handle('${type.slice(0, 40)}')`, this.maxGrowthBytes);
        return { ok: true, state: outcome.state };
      }, this.ms);
      if (next.ok) {
        if (next.state !== state) this.#lineage.retire(state, next.state);
        this.state = next.state;
      }
      else this.casualties.push({ type, user: w.caller.user, at: w.now, error: next.error });
    } catch (err) {
      // named as a live command's failure is (kernel.ts): a state that breaks the contract is the handler's
      const code = err instanceof MoltError ? (err.code === 'E_VALIDATE' ? 'E_HANDLER_CONTRACT' : err.code) : null;
      this.casualties.push({ type, user: w.caller.user, at: w.now, error: err instanceof MoltError ? `${code}: ${err.message}` : describeThrown(err) });
    }
  }
}
