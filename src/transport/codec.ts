import { Packr } from 'msgpackr';
import { Last } from './last.ts';
import type { ServerFrame } from './protocol.ts';

/** msgpack with plain maps on both ends (no records extension), so any msgpack client can talk to us. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

// A broadcast frame (an event, an upgrade frame) is one object sent to many sockets in one turn:
// encode it once. A reply or an error goes to one socket: encoded as it is, with nothing to remember.
const encoded = new Last<ServerFrame, Buffer>();

export function encode(frame: ServerFrame): Buffer {
  if (frame.t === 'reply' || frame.t === 'error') return packr.pack(frame);
  return encoded.get(frame) ?? encoded.set(frame, packr.pack(frame));
}

/**
 * `base` with one more key, encoded: the bytes of `base` (encoded once, as a broadcast frame) with
 * `key: value` appended, so a frame that differs per connection only there (the committed frame's
 * hello) costs one small encoding per connection instead of a whole one. msgpack maps are their
 * entries one after another: the count in the first byte goes up by one.
 */
export function encodeWith(base: ServerFrame, key: string, value: unknown): Buffer {
  const head = encode(base);
  const tag = head[0]!;
  // a fixmap (up to 15 entries) with room for one more; anything else is encoded whole
  if ((tag & 0xf0) !== 0x80 || (tag & 0x0f) === 0x0f) return packr.pack({ ...base, [key]: value });
  return Buffer.concat([Buffer.of(tag + 1), head.subarray(1), packr.pack(key), packr.pack(value)]);
}

export function decode(data: Buffer): unknown {
  return packr.unpack(data);
}
