import { Packr } from 'msgpackr';
import type { ServerFrame } from './protocol.ts';

/** msgpack with plain maps on both ends (no records extension), so any msgpack client can talk to us. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

// A broadcast frame (an event, an upgrade frame) is one object sent to many sockets: encode it once.
// A reply or an error goes to one socket: encoded as it is, with nothing to remember.
const encoded = new WeakMap<object, Buffer>();

export function encode(frame: ServerFrame): Buffer {
  if (frame.t === 'reply' || frame.t === 'error') return packr.pack(frame);
  let buf = encoded.get(frame);
  if (!buf) {
    buf = packr.pack(frame);
    encoded.set(frame, buf);
  }
  return buf;
}

export function decode(data: Buffer): unknown {
  return packr.unpack(data);
}
