import { C1, Packr, addExtension } from 'msgpackr';
import { Last } from './last.ts';
import type { ServerFrame } from './protocol.ts';

/**
 * msgpack with plain maps on both ends (no records extension), so any msgpack client can talk to us.
 * undefined goes out as nil: msgpackr's default is its extension type 0, which other libraries read
 * as an extension (Python's msgpack: ExtType(0, b'\x00')), and a release may reply or send an event
 * with undefined in it (plain data, to the kernel).
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', encodeUndefinedAsNil: true });

/**
 * A msgpack extension value of a type msgpackr does not decode itself. msgpackr throws on one, and the
 * whole frame was then refused as unreadable (no id, no path); decoded as this, the command is read
 * and refused by the plain-data check like any other extension ("holds a MsgpackExtension at x").
 */
export class MsgpackExtension {
  constructor(readonly type: number) {}
}
/**
 * The extension types msgpackr decodes itself (0: undefined, -1: a timestamp, the rest its own). Not
 * its structured-clone id and pointer (0x69, 0x70): with them a frame names a value once and points at
 * it again and again, so 600 bytes decode to a tree of 2^40 nodes (a graph; a cycle too), and the
 * plain-data check walks every one of them with the event loop held. Read as MsgpackExtension here,
 * they are refused like any other extension.
 */
// (msgpackr has no decoder of 0x52, only a comment where one would be: listed here, a frame holding it
// was refused as unreadable, "Unknown extension 82", where any other unknown type is named)
const DECODED = new Set([0x00, 0x42, 0x62, 0x65, 0x72, 0x73, 0x74, 0x78, 0xff]);
for (let type = 1; type < 0xff; type++) if (!DECODED.has(type)) addExtension({ type, unpack: () => new MsgpackExtension(type > 0x7f ? type - 0x100 : type) } as never);

/**
 * msgpack's extension type 0 (notepack's undefined) is nil to a client (PROTOCOL.md). msgpackr reads
 * it as undefined, and a field holding undefined is a field left out to the feed: `{limit: ext 0}` was
 * served the default page where `{limit: nil}` is bad_limit, `{token: ext 0}` to leave was no token.
 * Read as msgpackr does (a key so read stays "undefined", as PROTOCOL.md says), then, only in a frame
 * that held one, every undefined value is made null: `sawUndefined` says whether the frame did.
 */
let sawUndefined = false;
const undefinedExtension = Object.assign(
  () => {
    sawUndefined = true;
    return undefined;
  },
  { noBuffer: true },
);
addExtension({ type: 0, unpack: undefinedExtension } as never);

/** `value` with every undefined in it (a map's value, an array's item, itself) made null, in place. */
function nilForUndefined(value: unknown): unknown {
  if (value === undefined) return null;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        if (node[i] === undefined) node[i] = null;
        else if (typeof node[i] === 'object' && node[i] !== null) stack.push(node[i]);
      }
    } else if (typeof node === 'object' && node !== null && Object.getPrototypeOf(node) === Object.prototype) {
      const map = node as Record<string, unknown>;
      for (const key of Object.keys(map)) {
        if (map[key] === undefined) map[key] = null;
        else if (typeof map[key] === 'object' && map[key] !== null) stack.push(map[key]);
      }
    }
  }
  return value;
}

/** What msgpackr makes of the byte 0xC1, which msgpack never uses: not a frame. */
export const NEVER_USED: unknown = C1;

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
  // a fixmap (up to 15 entries) with room for one more
  if ((tag & 0xf0) === 0x80 && (tag & 0x0f) < 0x0f) return Buffer.concat([Buffer.of(tag + 1), head.subarray(1), packr.pack(key), packr.pack(value)]);
  // a map16, which is what this packr writes for every map, however small: without this the committed
  // frame, report and all, was encoded again for every connection. The count goes into the copy.
  if (tag === 0xde && head.readUInt16BE(1) < 0xffff) {
    const out = Buffer.concat([head, packr.pack(key), packr.pack(value)]);
    out.writeUInt16BE(head.readUInt16BE(1) + 1, 1);
    return out;
  }
  return packr.pack({ ...base, [key]: value });
}

/**
 * Decode one frame; throws on bytes that are not msgpack. With `quiet`, what it throws has no stack:
 * an Error's stack is most of what a refused frame costs (msgpackr throws one, and SES's tamed
 * constructor captures its stack twice: 11 us a frame of garbage, 6 us without), and a frame
 * refused as malformed needs none. The limit is set and put back around each call (~0.2 us), so
 * ws.ts asks for it only from a socket that has already sent a frame that did not decode.
 */
export function decode(data: Buffer, quiet = false): unknown {
  sawUndefined = false;
  const value = quiet ? unpackQuietly(data) : packr.unpack(data);
  return sawUndefined ? nilForUndefined(value) : value;
}

function unpackQuietly(data: Buffer): unknown {
  const E = Error as { stackTraceLimit?: number };
  const limit = E.stackTraceLimit;
  E.stackTraceLimit = 0;
  try {
    return packr.unpack(data);
  } finally {
    E.stackTraceLimit = limit;
  }
}
