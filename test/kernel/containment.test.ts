/**
 * Handlers run in the live process for speed, so everything they return is checked before anything is
 * committed: plain data at every depth however frozen, a state that builds on the one it was given,
 * and replies, events and growth bounded in bytes. Each case is answered with an error, the state is
 * the very same object, and the next honest command works.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { tiny } from '../support/tiny.ts';
import { SRC, runScript } from '../support/child.ts';
import { framesTo } from '../../src/transport/frames.ts';
import { checkPlain } from '../../src/kernel/plain.ts';
import { encode } from '../../src/transport/codec.ts';

/** A counter feed whose `bad` command returns `expr` (with s = state, c = command, produce, freeze). */
function withBad(expr: string, limits = {}, prelude = '') {
  const kernel = new Kernel(
    tiny({
      commands: ['inc', 'bad', 'whoami'],
      prelude: `const { freeze } = require('immer');\n${prelude}`,
      handle: `(s, c, ctx) => c.type === 'bad' ? (${expr}) : handle(s, c, ctx)`,
    }),
    { limits },
  );
  const frames: ServerFrame[] = [];
  const conn = kernel.connect(framesTo((f) => frames.push(f)));
  return { kernel, conn, frames };
}

async function refusedWith(expr: string, code: string, message: RegExp, limits = {}, prelude = '') {
  const { kernel, conn, frames } = withBad(expr, limits, prelude);
  await kernel.dispatch(conn, { type: 'inc' });
  const before = kernel.state;
  const r = await kernel.dispatch(conn, { type: 'bad' });
  expect(r).toMatchObject({ ok: false, error: { code, message: expect.stringMatching(message) } });
  expect(kernel.state).toBe(before);
  expect(frames.filter((f) => f.t === 'event')).toHaveLength(1); // only inc's
  expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 2 } });
  return r;
}

/**
 * Run `body` (with Kernel, tiny and framesTo imported) in a process of its own, so that a wedge (the
 * failure some of these cases had) is a kill after 20 s, not a stuck test run.
 */
function inProcess(body: string): Promise<{ ended: number | string; out: string }> {
  return runScript(
    `import { Kernel } from ${SRC('src/kernel/kernel.ts')};
import { tiny } from ${SRC('test/support/tiny.ts')};
import { framesTo } from ${SRC('src/transport/frames.ts')};
${body}
process.exit(0);
`,
    20_000,
    'wedged: still running after 20 s',
    ['--max-old-space-size=512'],
  );
}

describe('what a handler stores is plain data at every depth, however frozen', () => {
  it.each([
    ['NaN in a frozen object', `({ state: freeze({ count: s.count, n: 0 / 0 }, true) })`, /state holds the number NaN at n/],
    ['-0', `({ state: freeze({ count: -0 }) })`, /state holds -0 at count/],
    ['Infinity deep in a frozen array', `({ state: freeze({ count: 1, list: [1, [2, 1 / 0]] }, true) })`, /state holds the number Infinity at list\[1\]\[1\]/],
    ['a getter', `({ state: { get count() { return 1; } } })`, /state holds a getter or setter at count/],
    ['a frozen getter that never returns', `({ state: Object.freeze({ get count() { for (;;) {} } }) })`, /getter or setter/],
    ['a symbol key', `({ state: { count: 1, [Symbol.iterator]: 1 } })`, /symbol key/],
    ['a non-enumerable key', `({ state: Object.defineProperty({ count: 1 }, 'hidden', { value: 1 }) })`, /non-enumerable key/],
    ['a named property on an array', `({ state: { count: 1, list: Object.assign([1, 2], { total: 3 }) } })`, /array with holes or named properties at list/],
    ['a hole in an array', `({ state: { count: 1, list: [1, , 3] } })`, /array with holes/],
    ['a hole in an array that a named property makes up for', `({ state: { count: 1, list: Object.assign([1, , 3], { total: 3 }) } })`, /array with holes or named properties at list/],
    ['a non-enumerable named property on an array', `({ state: { count: 1, list: Object.defineProperty([1, 2], 'total', { value: 3 }) } })`, /array with holes or named properties at list/],
    ['a getter on an array index', `({ state: { count: 1, list: Object.defineProperty([1, 2], 0, { get() { for (;;) {} }, enumerable: true }) } })`, /state holds a getter or setter at list\[0\]/],
    ['a class instance', `({ state: { count: 1, when: new (class Moment {})() } })`, /state holds a Moment at when/],
    ['a class instance after plain objects of its realm', `({ state: { count: 1, list: [{ a: 1 }, { b: 2 }, new (class Moment {})()] } })`, /state holds a Moment at list\[2\]/],
    ['an array of a subclass after plain arrays', `({ state: { count: 1, list: [[1], [2], (class Row extends Array {}).from([3])] } })`, /an array with a prototype of its own at list\[2\]/],
    ['undefined', `({ state: { count: 1, maybe: undefined } })`, /state holds undefined at maybe/],
    // its name was read as node.constructor.name, running the getter: unbounded at boot or in a push's walk (a wedge)
    ['an object whose prototype has a constructor getter that never returns', `({ state: { count: 1, x: Object.setPrototypeOf({ n: 1 }, { get constructor() { for (;;) {} } }) } })`, /state holds an object with a prototype of its own at x/],
  ])('refuses %s with E_HANDLER_CONTRACT and keeps the state', async (_what, expr, message) => {
    await refusedWith(expr, 'E_HANDLER_CONTRACT', message);
  });

  it("refuses a refusal with a kernel's code (E_*: the client was told the kernel had answered E_INTERNAL)", async () => {
    await refusedWith(`({ error: { code: 'E_INTERNAL', message: 'the kernel broke' } })`, 'E_HANDLER_CONTRACT', /a refusal's code is the feed's own: "E_INTERNAL" is the kernel's kind \(E_\*\)$/);
  });

  it('refuses an outcome whose own fields are getters (they would run whenever the kernel looked)', async () => {
    await refusedWith(`({ get state() { return s; } })`, 'E_HANDLER_CONTRACT', /as a plain object of data/);
  });

  it('refuses at boot an initial state holding an object whose prototype has a constructor getter that never returns (the boot wedged)', async () => {
    const { ended, out } = await inProcess(`const release = tiny();
release.code = release.code.replace('init: () => ({ count: 0 })', 'init: () => ({ count: 0, x: Object.setPrototypeOf({ n: 1 }, { get constructor() { for (;;) {} } }) })');
try { new Kernel(release); process.stdout.write('booted'); } catch (err) { process.stdout.write(String(err.message)); }`);
    expect(ended).toBe(0);
    expect(out).toBe('feed v1 initial state: state holds an object with a prototype of its own at x; only plain data may be stored');
  }, 60_000);

  it('refuses an outcome with a key named __proto__ (copied, it set the copy\'s prototype, and the getter there ran)', async () => {
    await refusedWith(`Object.defineProperty({}, '__proto__', { value: { get state() { return { count: 7 }; } }, enumerable: true })`, 'E_HANDLER_CONTRACT', /returned \{__proto__: \{state\}\}; .*as a plain object of data/);
  });

  it('refuses a leaked immer draft (a Proxy)', async () => {
    await refusedWith(`(() => { let leaked; produce(s, (d) => { leaked = d; }); return { state: { count: 5, draft: leaked } }; })()`, 'E_HANDLER_CONTRACT', /Proxy/);
  });

  // an immer draft used after its produce is revoked: `err instanceof MoltError` threw on it, and the
  // handler was answered "internal error while serving 'bad': TypeError: Cannot perform 'getPrototypeOf'
  // on a proxy that has been revoked"
  it.each([
    ['a draft kept past its produce', `(() => { let leaked; produce(s, (d) => { leaked = d; }); throw leaked; })()`],
    ['an object whose prototype is such a draft', `(() => { let leaked; produce(s, (d) => { leaked = d; }); throw Object.create(leaked); })()`],
  ])('says the handler threw a Proxy when it throws %s', async (_what, expr) => {
    await refusedWith(expr, 'E_HANDLER_THREW', /^feed v1 handle\('bad'\) threw a Proxy \(an immer draft kept past the produce that made it\?\); the state is unchanged$/);
  });

  it('checks only what is new: a like on a big state costs one path, and the shared rest is not walked', async () => {
    // a state of 20,000 objects; each command changes one of them
    const { kernel, conn } = withBad(
      `produce(s, (d) => { d.items[c.i] = { n: c.i }; })`,
      {},
      ``,
    );
    await kernel.dispatch(conn, { type: 'bad', i: 0 }); // refused: state has no items yet, so seed it
    // The same commands on two states of 20,000 items, one with 5 objects under each item: immer copies
    // the 20k-entry array either way (the feed's cost), and only a walk of the shared rest would cost
    // five times as much on the deep one. Timed in turns, so that both see the same load: an absolute
    // 50 ms a command was passed (57 ms) on loaded cores.
    const seed = (deep: boolean) => {
      const item = (n: number) => (deep ? { n, more: Array.from({ length: 3 }, (_, k) => ({ k })) } : { n });
      const seeded = new Kernel(tiny({ commands: ['bad'], handle: `(s, c) => ({ state: require('immer').produce(s, (d) => { d.items[c.i] = { n: c.i + 1_000_000 }; }) })` }), {
        initialState: { count: 0, items: Array.from({ length: 20_000 }, (_, i) => item(i)) },
        limits: { handlerTimeoutMs: 1_000 }, // (a copy of the array passed 250 ms, now and then, on loaded cores)
      });
      return { seeded, conn: seeded.connect(framesTo(() => {})) };
    };
    const flat = seed(false);
    const deep = seed(true);
    const ms = { flat: 0, deep: 0 };
    for (let i = 0; i < 60; i++)
      for (const [name, { seeded, conn: c }] of [['flat', flat], ['deep', deep]] as const) {
        const t0 = performance.now();
        expect(await seeded.dispatch(c, { type: 'bad', i })).toMatchObject({ ok: true });
        ms[name] += performance.now() - t0;
      }
    expect((deep.seeded.state as { items: { n: number }[] }).items[50]).toEqual({ n: 1_000_050 });
    // measured: 1.07 times; walked whole each time, the deep state's 100,000 objects cost more than
    // twice the flat one's 20,000
    expect(ms.deep, `${ms.deep.toFixed(0)} ms on the deep state, ${ms.flat.toFixed(0)} ms on the flat one`).toBeLessThan(ms.flat * 2);
  });
});

describe('what a handler is given cannot be changed to run later', () => {
  it('refuses a getter planted on its caller (the journal keeps the caller, and a push reads it again), and the next push commits', async () => {
    const plant = `(Object.defineProperty(ctx.caller, 'user', { get() { for (;;) {} }, enumerable: true }), { state: s })`;
    const { kernel, conn } = withBad(plant);
    // the first command must be answered, whether or not it could plant it
    expect(await kernel.dispatch(conn, { type: 'bad' })).toMatchObject({ ok: false, error: { code: 'E_HANDLER_THREW', message: expect.stringMatching(/Cannot redefine property: user|not extensible|read.only|frozen/) } });
    const context = `(ctx.extra = 1, ctx.now = 0, { state: s })`;
    const again = withBad(context);
    expect(await again.kernel.dispatch(again.conn, { type: 'bad' })).toMatchObject({ ok: false, error: { code: 'E_HANDLER_THREW' } });
    // an honest push reads the journal (its shadow run replays the last commands): it ends, and commits
    const t0 = performance.now();
    const report = await kernel.upgrade(tiny({ version: 2 }));
    expect(report.result, report.error?.message).toBe('committed');
    // the journal is read for the shadow run, after the load: the load (this kernel's first upgrade
    // starts its rehearsal process, 17 s with the cores loaded) is not what could freeze
    expect(performance.now() - t0 - report.phases.load!).toBeLessThan(20_000);
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 1 } });
  }, 30_000);
});

describe('handlers are synchronous', () => {
  it('refuses to load a release whose handle is an async or a generator function', () => {
    expect(() => new Kernel(tiny({ handle: `async (s, c) => ({ state: s })` }))).toThrow(/failed to load: SyntaxError: .*release code may not use async functions: feed code is synchronous/);
    expect(() => new Kernel(tiny({ handle: `function* (s, c) { yield { state: s }; }` }))).toThrow(/exports handle as an async or generator function; feed code is synchronous/);
  });
});

describe('lineage: a handler builds on the state it is given', () => {
  it('refuses a handler that hands back a state it memoized earlier (acknowledged writes would vanish)', async () => {
    const { kernel, conn } = withBad(`(memo ??= s, { state: memo })`, {}, 'let memo;');
    await kernel.dispatch(conn, { type: 'bad' }); // memoizes the current state (unchanged: fine)
    await kernel.dispatch(conn, { type: 'inc' });
    await kernel.dispatch(conn, { type: 'inc' });
    const before = kernel.state;
    const r = await kernel.dispatch(conn, { type: 'bad' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_LINEAGE', message: expect.stringMatching(/replaced earlier/) } });
    expect(kernel.state).toBe(before);
    expect(kernel.state).toEqual({ count: 2 });
  });

  it('refuses a state that puts back a top-level part of an older state', async () => {
    const { kernel, conn } = withBad(
      `c.save ? (saved = s.box, { state: s }) : { state: { count: s.count, box: saved } }`,
      {},
      'let saved;',
    );
    const k2 = new Kernel(
      tiny({ commands: ['bad', 'set'], prelude: 'let saved;', handle: `(s, c) => c.type === 'set' ? { state: { count: s.count + 1, box: { v: c.v } } } : c.save ? (saved = s.box, { state: s }) : { state: { count: s.count, box: saved } }` }),
      { initialState: { count: 0, box: { v: 0 } } },
    );
    const c2 = k2.connect(framesTo(() => {}));
    await k2.dispatch(c2, { type: 'bad', save: true });
    await k2.dispatch(c2, { type: 'set', v: 1 });
    const r = await k2.dispatch(c2, { type: 'bad' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_LINEAGE', message: expect.stringMatching(/box was replaced earlier/) } });
    expect(k2.state).toEqual({ count: 1, box: { v: 1 } });
    void kernel;
    void conn;
  });
});

describe('bounded in bytes', () => {
  it('refuses a handler that makes an array too large to fill within its time limit, and keeps serving', async () => {
    await refusedWith(`(() => { const zeros = new Array(5e8).fill(0); return { state: s, reply: { n: zeros.length } }; })()`, 'E_HANDLER_THREW', /RangeError: new Array\(500000000\): feed code may make an array of at most 33,554,432 slots/);
  });

  it('refuses a reply, an event or a state nested deeper than 256 levels (an encoder would overflow its stack sending it)', async () => {
    const deep = (n: number, leaf = '{}') => `(() => { let r = ${leaf}; for (let i = 0; i < ${n}; i++) r = { r }; return r; })()`;
    await refusedWith(`({ state: s, reply: ${deep(20_000)} })`, 'E_HANDLER_CONTRACT', /reply holds nesting deeper than 256 levels at r\.r\.r.*\.\.\./);
    await refusedWith(`({ state: s, events: [{ type: 'x', r: ${deep(300)} }] })`, 'E_HANDLER_CONTRACT', /events holds nesting deeper than 256 levels/);
    await refusedWith(`({ state: { ...s, deep: ${deep(20_000, '[]')} } })`, 'E_HANDLER_CONTRACT', /state holds nesting deeper than 256 levels/);
    // a cycle nests without end: said as such
    await refusedWith(`(() => { const o = { a: { b: {} } }; o.a.b.back = o; return { state: s, reply: { o } }; })()`, 'E_HANDLER_CONTRACT', /reply holds a cycle \(an object that holds itself\) at o(\.(a|b|back))+;/);
    // 256 levels are plain data still, and encode
    const { kernel, conn } = withBad(`({ state: s, reply: ${deep(255)} })`);
    const r = await kernel.dispatch(conn, { type: 'bad' });
    expect(r.ok).toBe(true);
    expect(encode({ t: 'reply', id: 1, ok: true, data: (r as { data: unknown }).data }).length).toBeGreaterThan(255 * 2);
  });

  it('refuses a state that holds a part of the one it was given in two places: read as a tree it doubles with each command, and the next copy to the rehearsal never ended', async () => {
    const bad = { code: 'E_HANDLER_CONTRACT', message: expect.stringMatching(/a part of the state it was given in two places/) };
    // `bad` with n: 1 gives the state a part to share (honest); with n: 2 it returns `expr`
    const cases: [string, boolean][] = [
      [`{ ...s, copy: s }`, false], // the state under a key of its own replacement
      [`{ ...s, x: { ...s } }`, false], // its parts under two new nodes
      [`{ ...s, x: { y: s } }`, false], // deeper
      [`{ ...s, list: [s.list, s.list] }`, false], // one part twice, where it was
      [`{ ...s, moved: s.list }`, false], // a part under a new key, and still where it was
      [`{ ...s, moved: s.list.a }`, false], // a part of a part, and that part still whole where it was
      [`{ count: s.count, moved: s.list }`, true], // a move: under its new key only
    ];
    for (const [expr, accepted] of cases) {
      const { kernel, conn } = withBad(`c.n === 1 ? { state: { ...s, list: { a: [1, 2] } } } : { state: ${expr} }`);
      expect(await kernel.dispatch(conn, { type: 'bad', n: 1 })).toMatchObject({ ok: true });
      const before = kernel.state;
      const r = await kernel.dispatch(conn, { type: 'bad', n: 2 });
      if (accepted) expect(r.ok, expr).toBe(true);
      else {
        expect(r, expr).toMatchObject({ ok: false, error: bad });
        expect(kernel.state).toBe(before);
      }
      expect(await kernel.dispatch(conn, { type: 'inc' })).toMatchObject({ ok: true });
      kernel.close();
    }
  });

  it('keeps honest sharing: a like on a feed of 1,100 posts (its vector grown past two roots) shares the rest, once', async () => {
    const { buildRelease } = await import('../../src/release/build.ts');
    const r1 = await buildRelease(1);
    const kernel = new Kernel({ code: r1.code, view: r1.view, hash: r1.hash });
    const conn = kernel.connect(framesTo(() => {}));
    expect(await kernel.dispatch(conn, { type: 'join', handle: 'writer' })).toMatchObject({ ok: true });
    for (let i = 0; i < 1_100; i++) expect(await kernel.dispatch(conn, { type: 'post', text: `post ${i}` })).toMatchObject({ ok: true });
    const timeline = (await kernel.dispatch(conn, { type: 'timeline', limit: 3 })) as { ok: true; data: { posts: { id: string }[] } };
    for (const p of timeline.data.posts) expect(await kernel.dispatch(conn, { type: 'like', post: p.id })).toMatchObject({ ok: true });
    kernel.close();
  }, 60_000);

  it('refuses, saying why, an upgrade of a state grown too deep a level at a time (the state given, under a new root), and keeps serving', async () => {
    // each command walks only its new root: what it shares with the state before is not walked again
    const { kernel, conn } = withBad(`({ state: { count: s.count, under: s } })`, { maxQueuedCommands: 100_000 });
    const results = await Promise.all(Array.from({ length: 12_000 }, () => kernel.dispatch(conn, { type: 'bad' })));
    expect(results.every((r) => r.ok)).toBe(true);
    const before = kernel.state;
    const report = await kernel.upgrade(tiny({ version: 2 }));
    expect(report).toMatchObject({ result: 'refused', error: { code: 'E_INTERNAL', message: expect.stringMatching(/^the live state is nested too deeply to copy to the rehearsal \(encoding it overflowed the stack\); nothing changed/) } });
    expect(kernel.state).toBe(before);
    expect(await kernel.dispatch(conn, { type: 'inc' })).toMatchObject({ ok: true });
    kernel.close();
  }, 60_000);

  it('refuses a handler whose one built-in call would walk a huge length (the process died or wedged), and keeps serving', async () => {
    // unguarded: V8 aborted the process (invalid array length), then with indexOf it never returned
    await refusedWith(`(Array.prototype.sort.call({ length: 2 ** 40 }), { state: s })`, 'E_HANDLER_THREW', /RangeError: Array\.prototype\.sort: feed code may have a built-in walk at most 33,554,432 slots in one call/);
    await refusedWith(`(Array.prototype.indexOf.call({ length: 2 ** 40 }, 1), { state: s })`, 'E_HANDLER_THREW', /RangeError: Array\.prototype\.indexOf: feed code may have a built-in walk/);
    // unguarded: out of memory, the process gone
    await refusedWith(`({ state: s, reply: { n: 'x'.repeat(2 ** 28).split('').length } })`, 'E_HANDLER_THREW', /RangeError: String\.prototype\.split: feed code may have a built-in walk/);
    // unguarded: a typed array's own constructor (the host's) copied the array-like for more than a minute
    await refusedWith(`({ state: s, reply: { n: new (new Uint8Array(1).constructor)({ length: 2 ** 30 }).length } })`, 'E_HANDLER_THREW', /RangeError: new Uint8Array: feed code may have a built-in walk/);
  });

  it('refuses a search of an array for a long string that would compare without end in one step (25 s held; or flattened pieces until the process died), and keeps serving', async () => {
    // every slot a 1 MB string of the searched one's length: compared in full, slot after slot
    // (1 s to build the array and the strings: with two other processes spinning on the two cores they
    // took more than the default 250 ms, and the handler was stopped before it searched. Unguarded, the
    // search holds the process 25 s and ends in a timeout, not this refusal.)
    const mk = `const mk = (ch) => { const t = 'a'.repeat(2 ** 20 - 1) + ch; t.charCodeAt(0); return t; };`;
    for (const name of ['indexOf', 'includes', 'lastIndexOf'])
      await refusedWith(`({ state: s, reply: { at: new Array(2 ** 20).fill(mk('y')).${name}(mk('x')) } })`, 'E_HANDLER_THREW', new RegExp(`RangeError: Array\\.prototype\\.${name}: feed code may have one search of an array for a string compare at most 67,108,864 characters; this one could compare 1,099,511,627,776 \\(1,048,576 slots, each against 1,048,576 characters`), { handlerTimeoutMs: 1_000 }, mk);
    // pieces of 2^27 characters, a few bytes each until read: one search would flatten them all
    await refusedWith(`(() => { const y = 'a'.repeat(2 ** 27 - 1); const a = []; for (let i = 0; i < 8; i++) a.push(y + String.fromCharCode(66 + i)); return { state: s, reply: { at: a.indexOf(y + 'A') } }; })()`, 'E_HANDLER_THREW', /Array\.prototype\.indexOf: feed code may have one search/);
    // what a feed does with ids is far within it, and short strings are never bounded (in 1 s: a search
    // of 2^21 slots took more than the default 250 ms with the machine loaded)
    const { kernel, conn } = withBad(`({ state: s, reply: { at: Array.from({ length: 10_000 }, (_, i) => 'p' + i.toString(36).padStart(20, '0')).indexOf('p' + (9_999).toString(36).padStart(20, '0')), short: new Array(2 ** 21).fill('abc').includes('abd') } })`, { handlerTimeoutMs: 1_000 });
    expect(await kernel.dispatch(conn, { type: 'bad' })).toEqual({ ok: true, data: { at: 9_999, short: false } });
  });

  it('lists no long array\'s indices to check it (one C++ call: a reply of 2^23 zeros held the process 10.2 s past its limit), and still refuses its named keys', async () => {
    // 2^21 nulls: 2 MiB as the walks count bytes, within these limits; listing their keys took 2.1 s a listing
    const { kernel, conn } = withBad(`({ state: c.to === 'state' ? { count: s.count, list: new Array(2 ** 21).fill(null) } : s, reply: c.to === 'reply' ? new Array(2 ** 21).fill(null) : null })`, { handlerTimeoutMs: 1_000 });
    for (const to of ['reply', 'state']) {
      const t0 = performance.now();
      const r = await kernel.dispatch(conn, { type: 'bad', to });
      expect(performance.now() - t0).toBeLessThan(1_500);
      expect(r).toMatchObject({ ok: true });
    }
    expect((kernel.state as { list: unknown[] }).list).toHaveLength(2 ** 21);
    // named keys on a long array, enumerable or not, as state and as a reply
    await refusedWith(`({ state: { count: s.count, list: Object.assign(new Array(5_000).fill(0), { total: 1 }) } })`, 'E_HANDLER_CONTRACT', /state holds an array with holes or named properties at list/);
    await refusedWith(`({ state: s, reply: Object.defineProperty(new Array(5_000).fill(0), 'total', { value: 1 }) })`, 'E_HANDLER_CONTRACT', /reply holds an array with holes or named properties/);
    await refusedWith(`({ state: s, reply: Object.defineProperty(new Array(5_000).fill(0), 'constructor', { value: 1, enumerable: true }) })`, 'E_HANDLER_CONTRACT', /reply holds an array with holes or named properties/);
    // a prototype that is an array of its own: inspect listed its keys (2.0 s here), and an array whose
    // prototype is not an array's it shows as an object, every index listed (1.8 s)
    await refusedWith(`(() => { const p = Object.setPrototypeOf(new Array(2 ** 21).fill(0), Object.prototype); Object.defineProperty(p, 'constructor', { value: Object.defineProperty(function F() {}, Symbol.hasInstance, { value: () => false }) }); return { state: s, reply: Object.setPrototypeOf(new Array(5_000).fill(0), p) }; })()`, 'E_HANDLER_CONTRACT', /reply holds an array/, { handlerTimeoutMs: 1_000 });
    await refusedWith(`({ state: s, reply: Object.setPrototypeOf(new Array(5_000).fill(0), Object.prototype) })`, 'E_HANDLER_CONTRACT', /reply holds an array with holes or named properties/);
    // outside any time limit (the live process's walks in an upgrade), a named key's value that runs code when shown
    const looping = Object.defineProperty(() => 0, 'name', { get: () => { for (;;); } });
    const list = Object.assign(new Array(5_000).fill(0), { f: looping, o: Object.defineProperty({}, 'constructor', { value: looping }) });
    const t1 = performance.now();
    expect(() => checkPlain({ list }, null, 'a walk', 'state')).toThrow(/state holds an array with holes or named properties at list/);
    expect(performance.now() - t1).toBeLessThan(2_000); // its value ran for at most onlyIndices' own limit
  });

  it.each([
    ['the outcome itself', `new String(LONG)`, /returned a String object; expected \{state/],
    ['the outcome\'s prototype', `Object.create(new String(LONG), { state: { value: s, enumerable: true } })`, /as a plain object of data/],
    ['the reply, with Object.prototype', `({ state: s, reply: { x: Object.setPrototypeOf(new String(LONG), Object.prototype) } })`, /reply holds a String object at x/],
    ['the state', `({ state: { ...s, x: Object.setPrototypeOf(new String(LONG), null) } })`, /state holds a String object at x/],
    ['the prototype of an object in the reply', `({ state: s, reply: { x: Object.create(Object.setPrototypeOf(new String(LONG), null)) } })`, /reply holds an object with a prototype of its own at x/],
    ['an event', `({ state: s, events: [{ type: 'e', x: Object.setPrototypeOf(new String(LONG), null) }] })`, /events holds a String object at x/],
    ['the reply, as a typed array', `({ state: s, reply: { x: Object.setPrototypeOf(new Uint8Array(2 ** 25), null) } })`, /reply holds a typed array at x/],
  ])('lists no index of a String object or a typed array given a plain prototype: %s (every index a key, listed in one step: 10-19 s held past a 250 ms limit, 1 GB)', async (_where, expr, message) => {
    // the kernel's own for-in, which no key-listing check of release code stands before
    const t0 = performance.now();
    await refusedWith(expr, 'E_HANDLER_CONTRACT', message, {}, `const LONG = 'x'.repeat(2 ** 28);`);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it('sends events to their users at a cost of one look a connection (1,000 events to 600 users each, 1,000 connections: 1.45 s held outside the watchdog)', async () => {
    // The handler's 600,000 recipients are checked under its watchdog: with two other processes spinning
    // on the two cores that took more than the default 250 ms, so it has 1 s here.
    const kernel = new Kernel(
      tiny({
        commands: ['login', 'many'],
        handle: `(s, c, ctx) => { if (c.type !== 'many') return handle(s, c, ctx); const to = Array.from({ length: 600 }, (_, i) => 'x' + i); return { state: s, events: Array.from({ length: 1_000 }, () => ({ type: 'e', to })) }; }`,
      }),
      { limits: { handlerTimeoutMs: 1_000 } },
    );
    const many = async (conn: Parameters<Kernel['dispatch']>[0]) => {
      const t0 = performance.now();
      expect(await kernel.dispatch(conn, { type: 'many' })).toEqual({ ok: true, data: null });
      return performance.now() - t0;
    };
    const conns = [];
    let alone = 0;
    for (let i = 0; i < 2_000; i++) {
      const conn = kernel.connect(framesTo(() => {}));
      await kernel.dispatch(conn, { type: 'login', user: `u${i}` });
      conns.push(conn);
      // the floor, measured at one connection once warm: the handler, its check, the events kept
      if (i === 0) alone = (await many(conn), await many(conn));
    }
    // what 1,999 more connections add is the sending alone; searched for each, it was 1.45 s at 1,000
    expect((await many(conns[0]!)) - alone).toBeLessThan(1_000);
  });

  // The events array was the release's own, iterated again in the effects outside the watchdog: one
  // that gave the checks its events and looped on a later read wedged the process for good, with one
  // command. In a process of its own, so that a wedge (the failure) is a kill, not a stuck test run.
  it('reads the events array once: one whose iterator or index getter loops on a later read is refused, not a wedge', async () => {
    const iterator = `(() => { let n = 0; const evs = [{ type: 'x' }]; const proto = Object.create(Array.prototype); proto[Symbol.iterator] = function () { if (++n <= 2) return Array.prototype.values.call(this); return { next() { for (;;) {} } }; }; return Object.setPrototypeOf(evs, proto); })()`;
    const getter = `(() => { let n = 0; return Object.defineProperty([], 0, { get() { if (++n > 3) for (;;) {} return { type: 'x' }; }, enumerable: true }); })()`;
    const { ended, out } = await inProcess(`const out = [];
for (const events of [${JSON.stringify(iterator)}, ${JSON.stringify(getter)}]) {
  const kernel = new Kernel(tiny({ commands: ['inc', 'bad'], handle: \`(s, c, ctx) => c.type === 'bad' ? { state: s, events: \${events} } : handle(s, c, ctx)\` }));
  const conn = kernel.connect(framesTo(() => {}));
  out.push(await kernel.dispatch(conn, { type: 'bad' }), await kernel.dispatch(conn, { type: 'inc' }));
}
process.stdout.write(JSON.stringify(out));`);
    expect(ended).toBe(0);
    expect(JSON.parse(out)).toEqual([
      { ok: false, error: { code: 'E_HANDLER_CONTRACT', message: expect.stringMatching(/events must be a plain array$/) } },
      { ok: true, data: { value: 1 } },
      { ok: false, error: { code: 'E_HANDLER_CONTRACT', message: "feed v1 handle('bad') returned events with a getter at [0]; events must be plain data" } },
      { ok: true, data: { value: 1 } },
    ]);
  }, 60_000);

  it('refuses an event over its limit, and a reply over its limit, before anything is sent', async () => {
    await refusedWith(`({ state: s, events: [{ type: 'huge', text: 'x'.repeat(300_000) }] })`, 'E_TOO_LARGE', /event is larger than 262,144 bytes/);
    await refusedWith(`({ state: s, reply: { text: 'x'.repeat(5_000_000) } })`, 'E_TOO_LARGE', /reply is larger than/);
    // in bytes as they go out (UTF-8): 2M euro signs are 6 MB on the wire, past a 4 MiB reply
    await refusedWith(`({ state: s, reply: { text: '€'.repeat(2_000_000) } })`, 'E_TOO_LARGE', /reply is larger than 4,194,304 bytes/);
    await refusedWith(`({ state: s, events: [{ type: 'huge', text: '€'.repeat(100_000) }] })`, 'E_TOO_LARGE', /event is larger than 262,144 bytes/);
  });

  it('refuses one command sending more events than its limit, or more bytes of them together', async () => {
    await refusedWith(`({ state: s, events: Array.from({ length: 100_000 }, () => ({ type: 'x' })) })`, 'E_TOO_LARGE', /sent 100,000 events; one command may send at most 1,000/);
    // the same 200 KB object as 500 events: each under the limit of one, 100 MB together
    await refusedWith(`(() => { const big = { type: 'big', text: 'z'.repeat(200_000) }; return { state: s, events: Array(500).fill(big) }; })()`, 'E_TOO_LARGE', /the events of one command hold more than 4,194,304 bytes together/);
  });

  it('refuses one command adding more than its limit to the state', async () => {
    await refusedWith(`({ state: { count: s.count, blob: 'y'.repeat(2_000) } })`, 'E_TOO_LARGE', /state is larger than 1,000 bytes/, { maxGrowthBytes: 1000 });
  });

  it('keeps the event backlog within its byte budget: the oldest go, and $since says E_GAP for them', async () => {
    const kernel = new Kernel(tiny({ commands: ['big'], handle: `(s, c) => ({ state: s, events: [{ type: 'big', text: 'z'.repeat(10_000) }] })` }), { limits: { backlogBytes: 50_000 } });
    const conn = kernel.connect(framesTo(() => {}));
    for (let i = 0; i < 20; i++) expect((await kernel.dispatch(conn, { type: 'big' })).ok).toBe(true);
    const early = await kernel.dispatch(conn, { type: '$since', seq: 0 });
    expect(early).toMatchObject({ ok: false, error: { code: 'E_GAP' } });
    const late = await kernel.dispatch(conn, { type: '$since', seq: 17 });
    expect(late).toMatchObject({ ok: true, data: { seq: 20 } });
    expect((late as { data: { events: unknown[] } }).data.events).toHaveLength(3);
  });
});

describe('the plain walk takes as checked only what it can vouch for', () => {
  const built = () => Object.freeze({ root: Object.freeze([Object.freeze({ n: 0 / 0 })]) });
  const base = Object.freeze({ root: Object.freeze([Object.freeze({ n: 1 })]) });

  it('skips a node built over another where it meets it across from that very node (walked against it already)', () => {
    const b = built();
    expect(checkPlain({ list: b }, { list: base }, 'test', 'state', Infinity, { over: new Map([[b, base]]) }).nodes).toBe(1);
  });

  it('walks it anywhere else: across from another node, or where the state before has nothing', () => {
    const b = built();
    const over = new Map<object, object>([[b, base]]);
    expect(() => checkPlain({ list: b }, { list: Object.freeze({ root: [] }) }, 'test', 'state', Infinity, { over })).toThrow(/NaN at list\.root\[0\]\.n/);
    expect(() => checkPlain({ other: b }, { list: base }, 'test', 'state', Infinity, { over })).toThrow(/NaN at other\.root\[0\]\.n/);
    expect(() => checkPlain({ list: b }, null, 'test', 'state', Infinity, { over })).toThrow(/NaN at list\.root\[0\]\.n/);
  });
});

describe('a subtree that moved within the node it replaces is not walked again; anything else is', () => {
  const likes = () => Object.freeze(['u1', 'u2']);

  it('likes moved under reactions, and back: only the new nodes are walked', () => {
    const v1 = Object.freeze({ id: 'p1', likes: likes() });
    expect(checkPlain({ id: 'p1', reactions: { '❤️': v1.likes } }, v1, 'test', 'state').nodes).toBe(2);
    const v2 = Object.freeze({ id: 'p1', reactions: Object.freeze({ '❤️': likes() }) });
    expect(checkPlain({ id: 'p1', likes: v2.reactions['❤️'] }, v2, 'test', 'state').nodes).toBe(1);
  });

  it('a copy of it is walked, and what is wrong in it is found', () => {
    const v1 = Object.freeze({ id: 'p1', likes: likes() });
    expect(() => checkPlain({ id: 'p1', reactions: { '❤️': ['u1', 0 / 0] } }, v1, 'test', 'state')).toThrow(/NaN at reactions\.❤️\[1\]/);
    expect(() => checkPlain({ id: 'p1', reactions: { '❤️': Object.defineProperty(['u1'], 0, { get: () => 'u1', enumerable: true }) } }, v1, 'test', 'state')).toThrow(/getter or setter at reactions\.❤️\[0\]/);
  });

  it('the look is bounded: a node with many keys costs no more, and what it did not find is walked', () => {
    const big: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) big[`k${i}`] = Object.freeze({ i });
    Object.freeze(big);
    const moved = big['k99999'] as object;
    const t0 = performance.now();
    const { nodes } = checkPlain({ ...big, fresh: { n: 1 }, again: moved }, big, 'test', 'state');
    // the new root, the fresh node, and `moved` walked again: it was past the look, so it is checked
    expect(nodes).toBe(3);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});
