/**
 * Budgets for what a client may ask of the server: token buckets, one per connection and one per
 * remote address for each kind of budget, and a count of connections per address.
 *
 * A bucket holds up to `burst` tokens and refills at `perSecond`; a command takes one. An empty
 * bucket says how long until the next token (the retry hint a client gets), never drops silently.
 */
import type { IncomingMessage } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';
import ipaddr from 'ipaddr.js';
import { Aside, type AddressAside } from './aside.ts';

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

  /** Command types set aside for an address under `release` (aside.ts), at most `max` of them. */
  asides(release: string, now: number, max = 100): AddressAside[] {
    const out: AddressAside[] = [];
    for (const [address, entry] of this.#table) {
      for (const a of entry.aside.list(release, now)) {
        if (out.length >= max) return out;
        out.push({ address, ...a });
      }
    }
    return out;
  }

  get size(): number {
    return this.#table.size;
  }
}

/**
 * The address a socket came from, as budgets count it: an IPv4 address (IPv4-mapped IPv6, and NAT64's
 * 64:ff9b::/96, written as the IPv4 they hold); a global IPv6 address by its /64, which is one
 * subscriber's, as one IPv4 address is (a client can take any address of its /64 at will); any other
 * IPv6 address (loopback, link-local, unique-local: a private network's machines) whole.
 */
export function addressOf(remote: string | undefined): string {
  if (!remote) return 'unknown';
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(remote);
  } catch {
    return remote;
  }
  if (ip.kind() === 'ipv4') return ip.toString();
  const v6 = ip as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  const [a, b, c, d, , , g = 0, h = 0] = v6.parts;
  const range = v6.range();
  if (range === 'rfc6052') return `${g >> 8}.${g & 255}.${h >> 8}.${h & 255}`;
  if (range === 'unicast') return `${[a, b, c, d].map((p) => (p ?? 0).toString(16)).join(':')}::/64`;
  return v6.toString();
}

/**
 * How each listener finds a request's address (addressOf): the socket's own, or behind the reverse
 * proxies in `trustProxy` (addresses, CIDR ranges, `loopback`, ...) the nearest one X-Forwarded-For
 * names that is not one of them.
 */
export function addressResolver(trustProxy: readonly string[]): (req: IncomingMessage) => string {
  const trusted = trustProxy.length > 0 ? proxyaddr.compile([...trustProxy]) : null;
  return (req) => addressOf(trusted ? proxyaddr(req, trusted) : req.socket.remoteAddress);
}
