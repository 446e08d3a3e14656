import { describe, expect, it } from 'vitest';
import type { Numbered } from '../../src/kernel/notices.ts';
import { decode, encode } from '../../src/transport/codec.ts';
import { eventFrame } from '../../src/transport/frames.ts';
import { Last } from '../../src/transport/last.ts';

const numbered = (seq: number): Numbered => ({ seq, version: 2, event: { type: 'like', post: `p${seq}`, likes: seq } });

describe('the broadcast cache: an event is framed and encoded once for every socket of its turn', () => {
  it('keeps the last few by identity, and forgets the oldest', () => {
    const last = new Last<object, number>(3);
    const keys = [{}, {}, {}, {}];
    keys.slice(0, 3).forEach((k, i) => last.set(k, i));
    expect(keys.slice(0, 3).map((k) => last.get(k))).toEqual([0, 1, 2]);
    expect(last.get({})).toBeUndefined(); // an equal object is not the same key
    last.set(keys[3]!, 3);
    expect(last.get(keys[0]!)).toBeUndefined();
    expect(last.get(keys[3]!)).toBe(3);
  });

  it('gives every socket the same frame and the same bytes, and an event asked for later the same content', () => {
    const e = numbered(1);
    const frame = eventFrame(e);
    expect(eventFrame(e)).toBe(frame);
    const bytes = encode(frame);
    expect(encode(eventFrame(e))).toBe(bytes); // encoded once for all readers
    // many events later (a socket that was paused, a $since): made again, the same on the wire
    for (let seq = 2; seq < 40; seq++) encode(eventFrame(numbered(seq)));
    const again = eventFrame(e);
    expect(again).not.toBe(frame);
    expect(encode(again)).toEqual(bytes);
    expect(decode(bytes)).toEqual({ t: 'event', seq: 1, version: 2, event: { type: 'like', post: 'p1', likes: 1 } });
  });
});
