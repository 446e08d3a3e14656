/**
 * Ids are derived from a per-state sequence, so an id finds its slot in the vector without an index:
 * user n is "u<n>" (decimal, from 1), post n is "p<n in base 36>" (from 1). Slot = n - 1.
 * Parsing is strict (canonical spelling only), so each entity has exactly one id.
 */
import type { UserId } from '../../contract.ts';

export type PostId = string;

export function userId(slot: number): UserId {
  return `u${slot + 1}`;
}

export function postId(slot: number): PostId {
  return `p${(slot + 1).toString(36)}`;
}

/** The slot of a user id, or -1 when `id` is not a canonical user id. Allocates nothing. */
export function userSlot(id: unknown): number {
  return typeof id === 'string' && id.charCodeAt(0) === 117 /* u */ ? parseSlot(id, 10) : -1;
}

/** The slot of a post id, or -1 when `id` is not a canonical post id. Allocates nothing. */
export function postSlot(id: unknown): number {
  return typeof id === 'string' && id.charCodeAt(0) === 112 /* p */ ? parseSlot(id, 36) : -1;
}

// Digits after the one-letter prefix in `radix` (lowercase), no leading zero, n >= 1: slot n - 1.
function parseSlot(id: string, radix: number): number {
  if (id.length < 2 || id.length > 17 || id.charCodeAt(1) === 48 /* 0 */) return -1;
  let n = 0;
  for (let i = 1; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : 99;
    if (digit >= radix) return -1;
    n = n * radix + digit;
  }
  // past 2^53 the digits no longer spell one number exactly
  return n <= Number.MAX_SAFE_INTEGER ? n - 1 : -1;
}
