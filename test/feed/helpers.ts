/** Test helpers: a Context the way the kernel builds one, and a tiny driver that threads state. */
import type { Command, Context, FeedVersion, Outcome, Refusal, UserId } from '../../src/contract.ts';

let tokens = 0;

export function ctx(user: UserId | null = null, opts: { now?: number; online?: UserId[]; system?: boolean } = {}): Context {
  return {
    now: opts.now ?? 1_700_000_000_000,
    token: () => `tok${++tokens}`,
    caller: { conn: 'c1', user, system: opts.system ?? false },
    online: opts.online ?? [],
  };
}

export function isRefusal(outcome: Outcome<unknown>): outcome is Refusal {
  return 'error' in outcome;
}

/** Drives a feed like the kernel: keeps the state, binds users, throws on unexpected refusals. */
export class Driver<S> {
  state: S;
  constructor(readonly feed: FeedVersion<S>, state?: S) {
    this.state = state ?? feed.init();
  }
  /** Send a command as `user`; returns the outcome and keeps the new state when accepted. */
  send(user: UserId | null, command: Command, opts?: Parameters<typeof ctx>[1]): Outcome<S> {
    const outcome = this.feed.handle(this.state, command, ctx(user, opts));
    if (!isRefusal(outcome)) this.state = outcome.state;
    return outcome;
  }
  /** Send and expect acceptance; returns the reply (typed loosely for assertions). */
  ok(user: UserId | null, command: Command, opts?: Parameters<typeof ctx>[1]): any {
    const outcome = this.send(user, command, opts);
    if (isRefusal(outcome)) throw new Error(`${command.type} refused: ${outcome.error.code}`);
    return outcome.reply;
  }
  /** Send and expect a refusal; returns its code. */
  refused(user: UserId | null, command: Command): string {
    const outcome = this.send(user, command);
    if (!isRefusal(outcome)) throw new Error(`${command.type} was accepted`);
    return outcome.error.code;
  }
  join(handle: string): UserId {
    return this.ok(null, { type: 'join', handle }).user.id;
  }
}
