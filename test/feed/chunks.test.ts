import { describe, expect, it } from 'vitest';
import { produce } from 'immer';
import { CHUNK, chunkGet, chunkLength, chunkPush, chunkSet, fromChunks, toChunks } from '../../src/feed/v1/chunks.ts';

describe('chunks', () => {
  it('finds every entry of a list split into chunks of 1024', () => {
    const items = Array.from({ length: 2 * CHUNK + 5 }, (_, i) => i * 3);
    const chunks = toChunks(items);
    expect(chunks.map((c) => c.length)).toEqual([CHUNK, CHUNK, 5]);
    expect(chunkLength(chunks)).toBe(items.length);
    for (const i of [0, 1023, 1024, 2048, 2052]) expect(chunkGet(chunks, i)).toBe(i * 3);
    expect(fromChunks(chunks)).toEqual(items);
  });

  it('answers undefined outside the list', () => {
    const chunks = toChunks([1, 2]);
    for (const i of [-1, 2, 1.5, NaN, 5000]) expect(chunkGet(chunks, i)).toBeUndefined();
    expect(chunkLength([])).toBe(0);
  });

  it('starts a new chunk when the last one is full', () => {
    const chunks = toChunks(Array.from({ length: CHUNK }, (_, i) => i));
    expect(chunkPush(chunks, -1)).toBe(CHUNK);
    expect(chunks).toHaveLength(2);
    expect(chunks[1]).toEqual([-1]);
  });

  it('copies only the chunk it changes when used on an immer draft', () => {
    const before = toChunks(Array.from({ length: 3 * CHUNK }, (_, i) => ({ n: i })));
    const after = produce(before, (draft) => {
      chunkSet(draft, CHUNK + 7, { n: -7 });
    });
    expect(after[0]).toBe(before[0]);
    expect(after[2]).toBe(before[2]);
    expect(after[1]).not.toBe(before[1]);
    expect(after[1]![8]).toBe(before[1]![8]);
    expect(chunkGet(after, CHUNK + 7)).toEqual({ n: -7 });
    expect(chunkGet(before, CHUNK + 7)).toEqual({ n: CHUNK + 7 });
  });

  it('refuses to set an entry past the end', () => {
    expect(() => chunkSet(toChunks([1]), 1, 2)).toThrow(RangeError);
  });
});
