import { describe, expect, it } from 'vitest';
import { produce } from 'immer';
import { eachShardEntry, emptyShards, fnv1a, SHARDS, shardDelete, shardGet, shardOf, shardSet } from '../../src/feed/v1/shards.ts';
import { postId, postSlot, userId, userSlot } from '../../src/feed/v1/ids.ts';

describe('shards', () => {
  it('hashes with 32-bit FNV-1a', () => {
    // reference values of FNV-1a 32
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });

  it('spreads keys over all shards', () => {
    const used = new Set<number>();
    for (let i = 0; i < 5000; i++) used.add(shardOf(`user_${i}`));
    expect(used.size).toBe(SHARDS);
  });

  it('stores, finds and removes keys, including ones named like Object.prototype members', () => {
    const shards = emptyShards();
    for (const key of ['alice', '__proto__', 'constructor', 'toString']) shardSet(shards, key, `v-${key}`);
    expect(shardGet(shards, '__proto__')).toBe('v-__proto__');
    expect(shardGet(shards, 'constructor')).toBe('v-constructor');
    expect(shardGet(shards, 'hasOwnProperty')).toBeUndefined();
    expect(shardDelete(shards, 'alice')).toBe(true);
    expect(shardDelete(shards, 'alice')).toBe(false);
    const seen: [string | null, unknown, number][] = [];
    eachShardEntry(shards, (key, value, shard) => seen.push([key, value, shard]));
    expect(seen.map(([k]) => k).sort()).toEqual(['__proto__', 'constructor', 'toString']);
    for (const [key, , shard] of seen) expect(shard).toBe(shardOf(key!));
  });

  it('copies one shard when a key is added through immer', () => {
    const before = emptyShards();
    const after = produce(before, (draft) => shardSet(draft, 'bob', 'u2'));
    const changed = after.filter((shard, i) => shard !== before[i]);
    expect(changed).toEqual([{ '#bob': 'u2' }]);
  });
});

describe('ids', () => {
  it('derives ids from slots and back', () => {
    for (const slot of [0, 1, 35, 36, 1023, 999_999, 2 ** 40]) {
      expect(userSlot(userId(slot))).toBe(slot);
      expect(postSlot(postId(slot))).toBe(slot);
    }
    expect(userId(0)).toBe('u1');
    expect(postId(9)).toBe('pa');
    expect(postId(35)).toBe('p10');
  });

  it('rejects ids that are not spelled canonically', () => {
    for (const id of ['u0', 'u01', 'u99999999999999999', 'U1', 'u', 'u1.5', 'p1', 'u-1', 'u1e3', 1, null]) expect(userSlot(id)).toBe(-1);
    for (const id of ['p0', 'p01', 'pzzzzzzzzzzzz', 'pA', 'p', 'p_', 'u1', 'p-1', 'p1 ', 7]) expect(postSlot(id)).toBe(-1);
  });
});
