/**
 * Paging back through a vector with a filter, within a budget: home timelines, a person's posts and
 * tag timelines are the feed's posts filtered, with no index to keep in step. A page looks at no more
 * than `budget` entries, so it costs the same however big the feed is; it may then come back with
 * fewer than `limit` items (even none) and a cursor to go on from, and the client asks again.
 */
import { vecGet, type VecLike } from './vec.ts';

export interface Scanned<R> {
  readonly items: R[];
  /** The position to continue before; null when the start was reached. */
  readonly next: string | null;
}

/** Entries before position `end`, newest first, through `pick` (undefined skips an entry). */
export function scanBack<T, R>(v: VecLike<T>, end: number, limit: number, budget: number, pick: (entry: T, i: number) => R | undefined): Scanned<R> {
  const items: R[] = [];
  let i = end;
  const stop = Math.max(0, end - budget);
  while (i > stop && items.length < limit) {
    i -= 1;
    const out = pick(vecGet(v, i)!, i);
    if (out !== undefined) items.push(out);
  }
  return { items, next: i > 0 ? String(i) : null };
}

/** A cursor: a decimal position from 0 to `total`; -1 when it is not one. Absent means `total`. */
export function cursorAt(cursor: unknown, total: number): number {
  if (cursor === undefined || cursor === null) return total;
  if (typeof cursor !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(cursor)) return -1;
  const n = Number(cursor);
  return n <= total ? n : -1;
}

/** A page size: an integer in 1..max, `fallback` when absent; -1 when it is not one. */
export function limitOf(limit: unknown, fallback: number, max: number): number {
  if (limit === undefined) return fallback;
  return typeof limit === 'number' && Number.isInteger(limit) && limit >= 1 && limit <= max ? limit : -1;
}
