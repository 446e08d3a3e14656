/**
 * A string-keyed index (handle -> user id, session token -> user id) split over SHARDS plain records,
 * so that adding or removing one key through immer copies one shard, never the whole index. The shard
 * is chosen by FNV-1a, a small pure string hash.
 *
 * Keys are stored with a '#' prefix: a key like "__proto__" or "constructor" must never meet
 * Object.prototype. Callers always pass and get bare keys.
 */

export const SHARDS = 256;

export type Shards = Record<string, string>[];

const PREFIX = '#';

/** 32-bit FNV-1a over UTF-16 code units. */
export function fnv1a(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function shardOf(key: string): number {
  return fnv1a(key) % SHARDS;
}

export function emptyShards(): Shards {
  const out: Shards = [];
  for (let i = 0; i < SHARDS; i++) out.push({});
  return out;
}

export function shardGet(shards: readonly Readonly<Record<string, string>>[], key: string): string | undefined {
  const shard = shards[shardOf(key)];
  const k = PREFIX + key;
  return shard !== undefined && Object.hasOwn(shard, k) ? shard[k] : undefined;
}

/** Set `key` (on a draft: copies one shard). */
export function shardSet(shards: Shards, key: string, value: string): void {
  shards[shardOf(key)]![PREFIX + key] = value;
}

/** Remove `key` if present; returns whether it was there. */
export function shardDelete(shards: Shards, key: string): boolean {
  const shard = shards[shardOf(key)]!;
  const k = PREFIX + key;
  if (!Object.hasOwn(shard, k)) return false;
  delete shard[k];
  return true;
}

/** Call `fn` for every entry with its bare key (null when the stored key lacks the prefix, which only a
 *  corrupt state has), its value and its shard number: for validate() and tests. */
export function eachShardEntry(
  shards: readonly Readonly<Record<string, unknown>>[],
  fn: (key: string | null, value: unknown, shard: number) => void,
): void {
  for (let s = 0; s < shards.length; s++) {
    const shard = shards[s]!;
    for (const k in shard) {
      if (Object.hasOwn(shard, k)) fn(k.startsWith(PREFIX) ? k.slice(PREFIX.length) : null, shard[k], s);
    }
  }
}
