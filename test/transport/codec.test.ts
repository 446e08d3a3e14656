import { describe, expect, it } from 'vitest';
import type { UpgradeNotice, Welcome } from '../../src/kernel/notices.ts';
import { decode, encode, encodeWith } from '../../src/transport/codec.ts';
import { sharedPart, upgradeFrame } from '../../src/transport/frames.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';

const notice: UpgradeNotice = {
  upgrade: 'u-1', phase: 'committed', direction: 'up', dryRun: false,
  from: { version: 1, release: 'a'.repeat(64) }, to: { version: 2, release: 'b'.repeat(64) }, ms: 2.5,
  detail: { report: { steps: [{ step: '1->2' }], census: { posts: 1000 } }, pauseMs: 2.5, changed: { posts: ['p1', 'p2'] } },
};
const welcome = (conn: string): Welcome => ({ boot: 'boot-1', conn, version: 2, release: 'b'.repeat(64), seq: 41, commands: ['post', 'react'], view: null });

describe('the committed frame: one encoding shared by every connection, and each its own hello', () => {
  it('decodes to the very frame each connection is given', () => {
    const [a, b] = [upgradeFrame(notice, welcome('c1')), upgradeFrame(notice, welcome('c2'))];
    const base = sharedPart(a)!;
    expect(sharedPart(b)).toBe(base); // one shared part, encoded once
    for (const own of [a, b]) {
      const bytes = encodeWith(sharedPart(own)!, 'hello', own.hello);
      expect(decode(bytes)).toEqual(own);
      expect(decode(bytes)).toEqual(decode(encode({ ...own, t: 'upgrade' } as ServerFrame)));
    }
    expect((decode(encodeWith(base, 'hello', b.hello)) as { hello: { conn: string } }).hello.conn).toBe('c2');
    expect(sharedPart(upgradeFrame(notice))).toBeUndefined(); // the other phases are one frame for all
  });

  it("reuses the shared part's one encoding (a map16, as this codec writes every map), not a new one per connection", () => {
    const own = upgradeFrame(notice, welcome('c3'));
    const base = sharedPart(own)!;
    const shared = encode(base);
    expect(shared[0]).toBe(0xde);
    const bytes = encodeWith(base, 'hello', own.hello);
    expect(bytes.subarray(3, shared.length)).toEqual(shared.subarray(3)); // the shared bytes, then the hello
    expect([bytes.readUInt16BE(1), shared.readUInt16BE(1)]).toEqual([Object.keys(base).length + 1, Object.keys(base).length]); // the cached encoding left as it was
    // encoded once: what goes out is the cached encoding, not the object encoded again
    (base as { detail?: unknown }).detail = 'changed after it was encoded';
    expect((decode(encodeWith(base, 'hello', own.hello)) as { detail: unknown }).detail).toEqual(notice.detail);
  });

  it('encodes a base too large for the short form whole, and right', () => {
    const wide = { t: 'upgrade', ...Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, i])) } as unknown as ServerFrame;
    expect(decode(encodeWith(wide, 'hello', { conn: 'c9' }))).toEqual({ ...wide, hello: { conn: 'c9' } });
  });
});

describe('decoding garbage', () => {
  const garbage = Buffer.from([0x85, 0xa2, 0x69, 0x64]); // a map of 5 entries that ends early

  it('throws, quietly when asked: no stack, and the stack limit put back', () => {
    const limit = Error.stackTraceLimit;
    const thrown = (quiet: boolean) => {
      try {
        decode(garbage, quiet);
      } catch (err) {
        return err as Error;
      }
      throw new Error('garbage decoded');
    };
    expect(thrown(false).stack).toMatch(/\n\s+at /);
    const quiet = thrown(true);
    expect(quiet).toBeInstanceOf(Error);
    expect(quiet.stack).not.toMatch(/\n\s+at /);
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('after').stack).toMatch(/\n\s+at /);
  });

  it('decodes a good frame the same either way', () => {
    const bytes = encode({ t: 'reply', id: 7, ok: true, data: { posts: [{ id: 'p1', text: 'hi' }] } } as ServerFrame);
    expect(decode(bytes, true)).toEqual(decode(bytes));
    expect(decode(bytes, true)).toMatchObject({ id: 7, data: { posts: [{ text: 'hi' }] } });
  });
});
