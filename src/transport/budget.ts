/**
 * Budgets for what a client may ask of the server: token buckets, one per connection and one per
 * remote address for each kind of budget, and a count of connections per address.
 *
 * A bucket holds up to `burst` tokens and refills at `perSecond`; a command takes one. An empty
 * bucket says how long until the next token (the retry hint a client gets), never drops silently.
 */
import { Aside } from './aside.ts';

export class Bucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
      this.#at = now;
    }
  }

  /** Milliseconds until a token is there (0: now). Takes nothing. */
  wait(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.perSecond) * 1000);
  }

  take(now: number): void {
    this.#refill(now);
    this.#tokens -= 1;
  }

  /** True when the bucket is full again: nothing about its past is worth keeping. */
  full(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst;
  }
}

export interface Rates {
  commandsPerSec: number;
  commandBurst: number;
  joinsPerMin: number;
  joinBurst: number;
}

/** The budgets of one connection, or of one address (shared by its connections). */
export class Budget {
  readonly commands: Bucket;
  readonly joins: Bucket;

  constructor(rates: Rates, now: number) {
    this.commands = new Bucket(rates.commandsPerSec, rates.commandBurst, now);
    this.joins = new Bucket(rates.joinsPerMin / 60, rates.joinBurst, now);
  }

  full(now: number): boolean {
    return this.commands.full(now) && this.joins.full(now);
  }
}

export type BudgetName = 'commands' | 'joins';

/**
 * Take one command (and one join, for a join) from every budget given, or none of them: the answer
 * is null when the command may run, else which budget is empty and how long until it is not.
 */
export function spend(budgets: readonly { scope: 'connection' | 'address'; budget: Budget }[], join: boolean, now: number): { scope: 'connection' | 'address'; name: BudgetName; retryMs: number } | null {
  for (const { scope, budget } of budgets) {
    const wait = budget.commands.wait(now);
    if (wait > 0) return { scope, name: 'commands', retryMs: wait };
    if (join) {
      const joinWait = budget.joins.wait(now);
      if (joinWait > 0) return { scope, name: 'joins', retryMs: joinWait };
    }
  }
  for (const { budget } of budgets) {
    budget.commands.take(now);
    if (join) budget.joins.take(now);
  }
  return null;
}

/** One remote address: its connections, its shared budget, and the command types set aside for it. */
export interface Address {
  connections: number;
  readonly budget: Budget;
  readonly aside: Aside;
}

/**
 * Every address seen lately. An entry lives while the address has connections, a budget that is not
 * full again, or a command type it made run out its time lately; `sweep` forgets the others, so the
 * table stays as small as the set of recent clients.
 */
export class Addresses {
  readonly #table = new Map<string, Address>();

  constructor(
    private readonly rates: Rates,
    private readonly breaker: { after: number; openMs: number },
  ) {}

  get(ip: string, now: number): Address {
    let entry = this.#table.get(ip);
    if (!entry) {
      entry = { connections: 0, budget: new Budget(this.rates, now), aside: new Aside(this.breaker.after, this.breaker.openMs) };
      this.#table.set(ip, entry);
    }
    return entry;
  }

  sweep(now: number): void {
    for (const [ip, entry] of this.#table) if (entry.aside.sweep(now) && entry.connections === 0 && entry.budget.full(now)) this.#table.delete(ip);
  }

  get size(): number {
    return this.#table.size;
  }
}

/** The address a socket came from, with IPv4-mapped IPv6 written as IPv4. */
export function addressOf(remote: string | undefined): string {
  if (!remote) return 'unknown';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}
