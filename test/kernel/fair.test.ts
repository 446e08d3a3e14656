import v8 from 'node:v8';
import { describe, expect, it, vi } from 'vitest';
import { FairQueue } from '../../src/kernel/fair.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { Ceiling } from '../../src/kernel/ceiling.ts';
import { collect } from '../../src/kernel/upgrade/collect.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { tiny } from '../support/tiny.ts';
import { framesTo } from '../../src/transport/frames.ts';

type Item = { lane: string; n: number };
const queue = () => new FairQueue<Item>((i) => i.lane);
const walk = (q: FairQueue<Item>, max = Infinity) => {
  const cursor = q.cursor();
  const seen: string[] = [];
  for (let item = cursor.next(); item !== undefined && seen.length < max; item = seen.length < max ? cursor.next() : undefined) seen.push(`${item.lane}${item.n}`);
  return { cursor, seen };
};

describe('the fair queue', () => {
  it('takes one item from every lane per round, each lane in its own order', () => {
    const q = queue();
    for (let n = 1; n <= 4; n++) q.push({ lane: 'a', n });
    q.push({ lane: 'b', n: 1 });
    q.push({ lane: 'c', n: 1 });
    q.push({ lane: 'c', n: 2 });
    expect(walk(q).seen).toEqual(['a1', 'b1', 'c1', 'a2', 'c2', 'a3', 'a4']);
    expect(q.length).toBe(7); // walking removes nothing
  });

  it('removes only what was committed, and starts the next round after the last lane served', () => {
    const q = queue();
    for (const lane of ['a', 'b', 'c']) for (let n = 1; n <= 2; n++) q.push({ lane, n });
    const { cursor } = walk(q, 2); // a1, b1 served
    q.commit(cursor, 2);
    expect(q.length).toBe(4);
    expect(walk(q).seen).toEqual(['c1', 'a2', 'b2', 'c2']);
  });

  it('starts the next round at a lane the walk left waiting when told to: lanes it leaves are not passed over for good', () => {
    const q = queue();
    for (const lane of ['a', 'b', 'g']) for (let n = 1; n <= 3; n++) q.push({ lane, n });
    // a walk that takes one item of a or b (what the kernel does with $sinces past a batch's bytes), and all of g
    const served = (skip: Set<string>) => {
      const cursor = q.cursor();
      const seen: string[] = [];
      let deferred: Item | undefined;
      let costly = 0;
      const accept = (i: Item) => i.lane === 'g' || costly++ === 0 || ((deferred ??= i), false);
      for (let item = cursor.next(accept); item !== undefined && !skip.has(item.lane); item = cursor.next(accept)) seen.push(`${item.lane}${item.n}`);
      q.commit(cursor, seen.length, deferred);
      return seen;
    };
    expect(served(new Set())).toEqual(['a1', 'g1', 'g2', 'g3']);
    // b was left waiting: it goes first, and a waits in its turn
    expect(served(new Set())).toEqual(['b1']);
    expect(served(new Set())).toEqual(['a2']);
    expect(served(new Set())).toEqual(['b2']);
  });

  it('forgets a lane once it is empty, and a new lane joins the end of the round', () => {
    const q = queue();
    q.push({ lane: 'a', n: 1 });
    const first = walk(q);
    q.commit(first.cursor, 1);
    expect(q.length).toBe(0);
    q.push({ lane: 'b', n: 1 });
    q.push({ lane: 'a', n: 2 });
    expect(walk(q).seen).toEqual(['b1', 'a2']);
    expect(q.takeAll().map((i) => `${i.lane}${i.n}`)).toEqual(['b1', 'a2']);
    expect(q.length).toBe(0);
  });
});

describe('kernel scheduling', () => {
  it('serves a quiet connection in the first round while a busy one has a thousand commands waiting', async () => {
    const kernel = new Kernel(tiny());
    const busy = kernel.connect(framesTo(() => {}));
    const quiet = kernel.connect(framesTo(() => {}));
    const order: string[] = [];
    const all = Array.from({ length: 1000 }, (_, i) => kernel.dispatch(busy, { type: 'inc' }).then(() => order.push(`busy${i + 1}`)));
    const ping = kernel.dispatch(quiet, { type: '$ping' }).then(() => order.push('quiet'));
    await Promise.all([...all, ping]);
    expect(order.indexOf('quiet')).toBeLessThanOrEqual(1);
    expect(order.filter((o) => o !== 'quiet')).toEqual(Array.from({ length: 1000 }, (_, i) => `busy${i + 1}`)); // the busy one's order is kept
    expect(kernel.state).toEqual({ count: 1000 });
  });

  it('gives the event loop a turn between batches, so slow commands do not hold timers and sockets', async () => {
    // Each 'slow' command spins for a few milliseconds: longer than a batch slice.
    const slow = `(s, c, ctx) => { if (c.type === 'slow') { let x = 0; for (let i = 0; i < 4e6; i++) x += i; return { state: s, reply: x }; } return handle(s, c, ctx); }`;
    const kernel = new Kernel(tiny({ handle: slow, commands: ['slow', 'inc'] }), { limits: { batchSliceMs: 1 } });
    const conn = kernel.connect(framesTo(() => {}));
    let answered = 0;
    const all = Array.from({ length: 30 }, () => kernel.dispatch(conn, { type: 'slow' }).then(() => answered++));
    // A timer set once the first batch is answered (set before, a busy machine's loop may fire it
    // before any batch has run) fires while most of the commands still wait.
    await all[0];
    const atTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(answered), 0));
    await Promise.all(all);
    expect(atTimer).toBeLessThan(30);
  });
});

describe('the memory ceiling', () => {
  const counted = tiny({ census: '(s) => ({ posts: s[KEY] })' });

  it('refuses a command that would take a counted kind past its ceiling, with E_FULL and nothing changed', async () => {
    const kernel = new Kernel(counted, { limits: { maxPosts: 3 } });
    const frames: ServerFrame[] = [];
    const conn = kernel.connect(framesTo((f) => frames.push(f)));
    for (let i = 1; i <= 3; i++) expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: i } });
    const before = kernel.state;
    const r = await kernel.dispatch(conn, { type: 'inc' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_FULL', message: expect.stringContaining('maximum of 3 posts') } });
    expect(kernel.state).toBe(before);
    expect(frames.filter((f) => f.t === 'event')).toHaveLength(3);
    // what does not grow the feed still works at the ceiling
    expect(await kernel.dispatch(conn, { type: 'whoami' })).toMatchObject({ ok: true });
  });

  it('past the heap high-water mark, refuses whatever grows a count and serves the rest', async () => {
    const kernel = new Kernel(counted, { limits: { maxHeapMb: 1 } });
    const conn = kernel.connect(framesTo(() => {}));
    expect(await kernel.dispatch(conn, { type: 'inc' })).toMatchObject({ ok: false, error: { code: 'E_FULL', message: expect.stringContaining('memory ceiling') } });
    expect(await kernel.dispatch(conn, { type: '$ping' })).toMatchObject({ ok: true });
    expect(await kernel.dispatch(conn, { type: 'whoami' })).toMatchObject({ ok: true });
    expect(kernel.state).toEqual({ count: 0 });
  });

  it('past the mark, counts what the heap keeps: garbage not yet collected refuses nothing', async () => {
    collect();
    const kept = Ceiling.heapMb();
    const kernel = new Kernel(counted, { limits: { maxHeapMb: Math.ceil(kept) + 64, haltHeapMb: 1_000_000 } });
    const conn = kernel.connect(framesTo(() => {}));
    // ~240 MB of arrays, dropped at once: garbage the heap counts until V8 collects it
    let junk: number[][] | null = Array.from({ length: 300 }, () => new Array<number>(100_000).fill(1.5));
    expect(junk.length).toBe(300);
    junk = null;
    expect(Ceiling.heapMb()).toBeGreaterThan(Math.ceil(kept) + 64);
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 1 } });
    expect(Ceiling.heapMb()).toBeLessThan(Math.ceil(kept) + 64);
  });

  it('past the mark, refuses a change that frees nothing (growth the census does not count) and serves a delete', async () => {
    // 'stash' grows the state under keys of its own (the census counts posts only); 'drop' deletes one
    const handle = `(s, c, ctx) => c.type === 'stash' ? { state: { ...s, ['k' + c.i]: new Array(1000).fill(null) } } : c.type === 'drop' ? { state: { ...s, [KEY]: s[KEY] - 1 } } : handle(s, c, ctx)`;
    const release = tiny({ census: '(s) => ({ posts: s[KEY] })', handle, commands: ['inc', 'stash', 'drop', 'whoami'] });
    const below = new Kernel(release);
    const c1 = below.connect(framesTo(() => {}));
    expect(await below.dispatch(c1, { type: 'stash', i: 1 })).toMatchObject({ ok: true });
    const kernel = new Kernel(release, { limits: { maxHeapMb: 1 } });
    const conn = kernel.connect(framesTo(() => {}));
    const before = kernel.state;
    expect(await kernel.dispatch(conn, { type: 'stash', i: 1 })).toMatchObject({ ok: false, error: { code: 'E_FULL', message: expect.stringMatching(/memory ceiling .*only reading and deleting are served until memory is freed/) } });
    expect(kernel.state).toBe(before);
    expect(await kernel.dispatch(conn, { type: 'drop' })).toMatchObject({ ok: true });
    expect(kernel.state).toEqual({ count: -1 });
  });

  it('past the second mark, runs no feed code at all (reads included) and still answers the kernel', async () => {
    const looping = `(s, c, ctx) => { if (c.type === 'spin') for (;;) {} return handle(s, c, ctx); }`;
    const kernel = new Kernel(tiny({ handle: looping, commands: ['inc', 'spin', 'whoami'] }), { limits: { maxHeapMb: 1, haltHeapMb: 1 } });
    const conn = kernel.connect(framesTo(() => {}));
    const t0 = performance.now();
    for (const type of ['whoami', 'spin', 'inc'])
      expect(await kernel.dispatch(conn, { type })).toMatchObject({ ok: false, error: { code: 'E_FULL', message: expect.stringMatching(/^the server is nearly out of memory \(heap and buffers \d+ MB, past 1 MB\): no command of the feed runs until memory is freed; nothing changed$/) } });
    // the looping handler never ran: no watchdog's limit was waited out
    expect(performance.now() - t0).toBeLessThan(200);
    expect(await kernel.dispatch(conn, { type: '$ping' })).toMatchObject({ ok: true });
    expect(kernel.state).toEqual({ count: 0 });
    // the second mark is never below the first: raised alone, the first does not stop reads
    const raised = new Kernel(tiny({ handle: looping, commands: ['inc', 'spin', 'whoami'] }), { limits: { maxHeapMb: 1_000_000, haltHeapMb: 1 } });
    const c2 = raised.connect(framesTo(() => {}));
    expect(await raised.dispatch(c2, { type: 'whoami' })).toMatchObject({ ok: true });
  });

  it('past the mark, loads the running release again (at most once a minute), freeing what its code kept', async () => {
    // a release that keeps something of its own in its module, growing with every command
    const handle = `(s, c, ctx) => { kept.push(c.type); return { state: s, reply: { kept: kept.length } }; }`;
    const release = tiny({ prelude: 'const kept = [];', handle, commands: ['keep'] });
    const real = performance.now.bind(performance);
    let skew = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => real() + skew);
    try {
      const kernel = new Kernel(release, { limits: { maxHeapMb: 1 } });
      const conn = kernel.connect(framesTo(() => {}));
      const kept = async () => ((await kernel.dispatch(conn, { type: 'keep' })) as { data: { kept: number } }).data.kept;
      expect([await kept(), await kept(), await kept()]).toEqual([1, 2, 3]);
      const hash = kernel.release;
      skew += 61_000;
      // loaded again: what it kept is gone, and the release is the same one
      expect(await kept()).toBe(1);
      expect(kernel.release).toBe(hash);
      expect(await kept()).toBe(2);
      // below the mark, nothing of the kind
      const calm = new Kernel(release);
      const c2 = calm.connect(framesTo(() => {}));
      await calm.dispatch(c2, { type: 'keep' });
      skew += 61_000;
      expect(await calm.dispatch(c2, { type: 'keep' })).toEqual({ ok: true, data: { kept: 2 } });
    } finally {
      clock.mockRestore();
    }
  });
});

describe('the memory ceiling counts what a release keeps outside the heap', () => {
  it('past the mark with typed arrays its module kept, refuses writes and loads the release again', async () => {
    // 16 MB of a typed array a write, kept in the module: its bytes live outside V8's heap
    const handle = `(s, c) => {
      if (c.type === 'peek') return { state: s, reply: { kept: kept.length } };
      kept.push(new Float64Array(2 ** 21));
      return { state: produce(s, (d) => { d[KEY] += 1 }), reply: { kept: kept.length } };
    }`;
    const stats = v8.getHeapStatistics();
    const markMb = Math.ceil((stats.used_heap_size + stats.external_memory) / 2 ** 20) + 64;
    const kernel = new Kernel(tiny({ prelude: 'const kept = [];', handle, commands: ['keep', 'peek'] }), { limits: { maxHeapMb: markMb, haltHeapMb: 1_000_000 } });
    const conn = kernel.connect(framesTo(() => {}));
    let accepted = 0;
    let full: { code: string; message: string } | undefined;
    for (let i = 0; i < 16 && !full; i++) {
      const r = (await kernel.dispatch(conn, { type: 'keep' })) as { ok: boolean; error?: { code: string; message: string } };
      if (r.ok) accepted++;
      else full = r.error;
    }
    // 256 MB would have been kept by now; the mark is 64 MB above where it started
    expect(full).toMatchObject({ code: 'E_FULL', message: expect.stringMatching(/memory ceiling .*high-water mark \d+ MB\): nothing new can be added/) });
    expect(accepted).toBeGreaterThanOrEqual(3);
    expect(accepted).toBeLessThan(16);
    // the release was loaded again: what its module kept is gone
    expect(await kernel.dispatch(conn, { type: 'peek' })).toMatchObject({ ok: true, data: { kept: expect.any(Number) } });
    expect(((await kernel.dispatch(conn, { type: 'peek' })) as { data: { kept: number } }).data.kept).toBeLessThan(accepted);
    expect(kernel.state).toEqual({ count: accepted });
  });
});

describe('the boot id', () => {
  it('is in every hello, the same for a kernel and different for the next one', () => {
    const a = new Kernel(tiny());
    const b = new Kernel(tiny());
    const hellos: ServerFrame[] = [];
    a.connect(framesTo((f) => hellos.push(f)));
    a.connect(framesTo((f) => hellos.push(f)));
    b.connect(framesTo((f) => hellos.push(f)));
    const boots = hellos.map((h) => (h as { boot: string }).boot);
    expect(boots[0]).toMatch(/^[\w-]{12}$/);
    expect(boots[1]).toBe(boots[0]);
    expect(boots[2]).not.toBe(boots[0]);
  });
});
