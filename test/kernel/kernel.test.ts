import { describe, expect, it } from 'vitest';
import { Kernel, type Connection } from '../../src/kernel/kernel.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { tiny } from '../support/tiny.ts';
import { framesTo } from '../../src/transport/frames.ts';

function setup(options: Parameters<typeof tiny>[0] = {}, limits = {}) {
  let now = 1_000;
  const kernel = new Kernel(tiny(options), { clock: () => now, limits });
  const frames: ServerFrame[] = [];
  const conn = kernel.connect(framesTo((f) => frames.push(f)));
  return { kernel, conn, frames, tick: (ms: number) => (now += ms) };
}

describe('kernel dispatch', () => {
  it('greets a new connection with the running version, release and sequence number', () => {
    const { kernel, frames } = setup();
    expect(frames[0]).toMatchObject({ t: 'hello', protocol: 1, version: 1, release: kernel.release, seq: 0, view: null });
    expect(kernel.release).toMatch(/^[0-9a-f]{64}$/);
  });

  it('runs a command through the handler, swaps the state and numbers the events', async () => {
    const { kernel, conn, frames } = setup();
    const before = kernel.state;
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 1 } });
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 2 } });
    expect(kernel.state).toEqual({ count: 2 });
    expect(before).toEqual({ count: 0 }); // the old state is never touched
    expect(Object.isFrozen(kernel.state)).toBe(true);
    expect(frames.filter((f) => f.t === 'event')).toEqual([
      { t: 'event', seq: 1, version: 1, event: { type: 'changed', value: 1 } },
      { t: 'event', seq: 2, version: 1, event: { type: 'changed', value: 2 } },
    ]);
  });

  it('gives the handler a narrow context: time, caller and who is online, never the kernel', async () => {
    const { kernel, conn } = setup();
    await kernel.dispatch(conn, { type: 'login', user: 'u1' });
    const r = await kernel.dispatch(conn, { type: 'whoami' });
    expect(r).toEqual({ ok: true, data: { caller: { conn: conn.id, user: 'u1', system: false }, online: ['u1'], now: 1000 } });
  });

  it('tells the feed when a user comes online and goes offline, as system commands', async () => {
    const { kernel, conn, frames } = setup();
    const other: ServerFrame[] = [];
    const c2 = kernel.connect(framesTo((f) => other.push(f)));
    await kernel.dispatch(conn, { type: 'login', user: 'u1' });
    await kernel.dispatch(c2, { type: 'login', user: 'u1' }); // second tab: no new presence
    kernel.disconnect(conn);
    expect(other.filter((f) => f.t === 'event').map((f) => (f as { event: unknown }).event)).toEqual([{ type: 'presence', user: 'u1', online: true }]);
    expect(kernel.status().online).toBe(1);
    kernel.disconnect(c2);
    expect(kernel.status().online).toBe(0);
    const watcher = kernel.connect(framesTo(() => {}));
    const r = await kernel.dispatch(watcher, { type: '$since', seq: 0 });
    expect(r.ok && (r.data as { events: { event: unknown }[] }).events.map((e) => e.event)).toEqual([
      { type: 'presence', user: 'u1', online: true },
      { type: 'presence', user: 'u1', online: false },
    ]);
    expect(frames.some((f) => f.t === 'event')).toBe(true);
  });

  it('delivers an event with `to` only to those users, and keeps it out of others\' catch-up', async () => {
    const { kernel, conn, frames } = setup();
    const spy: ServerFrame[] = [];
    const c2 = kernel.connect(framesTo((f) => spy.push(f)));
    await kernel.dispatch(conn, { type: 'login', user: 'alice' });
    await kernel.dispatch(c2, { type: 'login', user: 'bob' });
    await kernel.dispatch(c2, { type: 'secret', user: 'alice' });
    const whisper = (fs: ServerFrame[]) => fs.filter((f) => f.t === 'event' && f.event.type === 'whisper');
    expect(whisper(frames)).toHaveLength(1);
    expect(whisper(spy)).toHaveLength(0);
    const since = await kernel.dispatch(c2, { type: '$since', seq: 0 });
    expect(JSON.stringify(since)).not.toContain('whisper');
  });

  it('refuses an unknown command type with E_UNKNOWN_COMMAND naming what it handles', async () => {
    const { kernel, conn } = setup();
    const r = await kernel.dispatch(conn, { type: 'dance' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_UNKNOWN_COMMAND' } });
    expect(!r.ok && r.error.message).toMatch(/feed v1 does not handle 'dance'; it handles inc, whoami/);
  });

  it('refuses a command that is not a map with a type', async () => {
    const { kernel, conn } = setup();
    for (const bad of [null, 42, 'inc', { type: 7 }, []])
      expect(await kernel.dispatch(conn, bad)).toMatchObject({ ok: false, error: { code: 'E_BAD_COMMAND' } });
  });

  it("passes the feed's own refusals through and keeps the same state object", async () => {
    const { kernel, conn } = setup();
    const before = kernel.state;
    expect(await kernel.dispatch(conn, { type: 'refuse' })).toEqual({ ok: false, error: { code: 'nope', message: 'No.' } });
    expect(kernel.state).toBe(before);
  });

  it('answers a handler that throws with E_HANDLER_THREW and keeps the state', async () => {
    const { kernel, conn } = setup({ handle: `(s, c) => { if (c.type === 'boom') throw new RangeError('kaput'); return handle(s, c) }` });
    await kernel.dispatch(conn, { type: 'inc' });
    const before = kernel.state;
    const r = await kernel.dispatch(conn, { type: 'boom' });
    expect(r).toEqual({ ok: false, error: { code: 'E_HANDLER_THREW', message: "feed v1 handle('boom') RangeError: kaput; the state is unchanged" } });
    expect(kernel.state).toBe(before);
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 2 } });
  });

  it('turns a stray mutation of the frozen state into an error', async () => {
    const { kernel, conn } = setup({ handle: `(s, c) => { s.count = 99; return { state: s } }` });
    const r = await kernel.dispatch(conn, { type: 'inc' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_HANDLER_THREW' } });
    expect(!r.ok && r.error.message).toMatch(/read.only|Cannot assign/);
    expect(kernel.state).toEqual({ count: 0 });
  });

  it.each([
    ['undefined', 'undefined', /returned undefined; expected \{state, reply\?, events\?, bind\?\} or \{error/],
    ['a number', '42', /returned 42; expected/],
    ['a refusal without a message', "({ error: { code: 'x' } })", /a refusal needs error: \{code: string, message: string\}/],
    ['events that are not typed', '({ state: s, events: [{}] })', /every event needs a string type/],
    ['a state holding a function', '({ state: { count: () => 1 } })', /state holds a function/],
    ['a state holding a Map', '({ state: { count: new Map() } })', /state holds a Map/],
    ['a binding to an id of a million characters', "({ state: s, bind: 'u'.repeat(1e6) })", /bind must be a user id \(a string of at most 256 characters\) or null/],
  ])('answers a handler returning %s with E_HANDLER_CONTRACT, naming version and command', async (_n, expr, message) => {
    const { kernel, conn } = setup({ handle: `(s, c) => ${expr}` });
    const before = kernel.state;
    const r = await kernel.dispatch(conn, { type: 'inc' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_HANDLER_CONTRACT' } });
    expect(!r.ok && r.error.message).toMatch(/feed v1 handle\('inc'\)/);
    expect(!r.ok && r.error.message).toMatch(message);
    expect(kernel.state).toBe(before);
  });

  it('refuses a release whose handler would return a promise where it loads: no release code makes one', () => {
    expect(() => setup({ handle: `(s, c) => (async () => ({ state: s }))()` })).toThrow(/may not use async functions: feed code is synchronous/);
  });

  it('stops a handler that loops forever with E_HANDLER_TIMEOUT and keeps serving', async () => {
    const { kernel, conn } = setup({ handle: `(s, c) => { if (c.type === 'boom') for (;;) {} return handle(s, c) }` }, { handlerTimeoutMs: 30 });
    const r = await kernel.dispatch(conn, { type: 'boom' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_HANDLER_TIMEOUT' } });
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 1 } });
  });

  it('lets a client catch up on missed events by sequence number, or says E_GAP', async () => {
    const { kernel, conn } = setup({}, { eventBacklog: 3 });
    for (let i = 0; i < 5; i++) await kernel.dispatch(conn, { type: 'inc' });
    const r = await kernel.dispatch(conn, { type: '$since', seq: 3 });
    expect(r).toMatchObject({ ok: true, data: { seq: 5, events: [{ seq: 4 }, { seq: 5 }] } });
    expect(await kernel.dispatch(conn, { type: '$since', seq: 1 })).toMatchObject({ ok: false, error: { code: 'E_GAP' } });
    expect(await kernel.dispatch(conn, { type: '$since', seq: 99 })).toMatchObject({ ok: false, error: { code: 'E_BAD_COMMAND' } });
  });

  it('refuses to boot on a state its version finds invalid', () => {
    expect(() => new Kernel(tiny(), { initialState: { count: 'many' } })).toThrow(/feed v1 validate\(\) rejected the boot state \(1 problem\): count must be a number/);
  });

  it('throws at construction on an impossible limit', () => {
    expect(() => new Kernel(tiny(), { limits: { handlerTimeoutMs: -1 } })).toThrow(/limit handlerTimeoutMs = -1/);
    // a handler that may run for seconds can grow an array until V8 aborts the process (limits.ts)
    expect(() => new Kernel(tiny(), { limits: { handlerTimeoutMs: 1001 } })).toThrow('limit handlerTimeoutMs = 1001; expected an integer from 1 to 1000');
    expect(new Kernel(tiny(), { limits: { handlerTimeoutMs: 1000 } }).status().version).toBe(1);
  });

  it('forgets a connection that closes', () => {
    const { kernel, conn } = setup();
    expect(kernel.status().connections).toBe(1);
    kernel.disconnect(conn as Connection);
    expect(kernel.status().connections).toBe(0);
  });
});

describe('kernel dispatch: what goes on the wire', () => {
  it.each([
    ['a reply holding a function', `({ state: s, reply: { f: () => 1 } })`, /reply holds a function/],
    ['an event holding a class instance', `({ state: s, events: [{ type: 'x', when: new (class Moment {})() }] })`, /events holds a Moment/],
    ['a reply holding NaN', `({ state: s, reply: { n: 0 / 0 } })`, /reply holds the number NaN/],
  ])('refuses %s before committing anything', async (_what, expr, message) => {
    const { kernel, conn, frames } = setup({ handle: `(s, c) => ${expr}` });
    const before = kernel.state;
    const r = await kernel.dispatch(conn, { type: 'inc' });
    expect(r).toMatchObject({ ok: false, error: { code: 'E_HANDLER_CONTRACT', message: expect.stringMatching(message) } });
    expect(kernel.state).toBe(before);
    expect(frames.filter((f) => f.t === 'event')).toEqual([]);
  });

  it('lets a reply carry undefined fields, which msgpack sends', async () => {
    const { kernel, conn } = setup({ handle: `(s, c) => ({ state: s, reply: { next: undefined, n: 1 } })` });
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { next: undefined, n: 1 } });
  });
});

describe('kernel dispatch: commands that arrive together', () => {
  it('serves a burst in order, and a looping command in its middle costs only itself', async () => {
    const { kernel, conn, frames } = setup({ handle: `(s, c, ctx) => { if (c.type === 'boom') for (;;) {} return handle(s, c, ctx) }` }, { handlerTimeoutMs: 40 });
    const burst = ['inc', 'inc', 'boom', 'inc', 'whoami'].map((type) => kernel.dispatch(conn, { type }));
    const replies = await Promise.all(burst);
    expect(replies.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'ok', 'E_HANDLER_TIMEOUT', 'ok', 'ok']);
    expect(replies[3]).toEqual({ ok: true, data: { value: 3 } });
    expect(kernel.state).toEqual({ count: 3 });
    expect(frames.filter((f) => f.t === 'event').map((f) => (f as { seq: number }).seq)).toEqual([1, 2, 3]);
  });

  it('lets a join and the next command in the same burst see the new binding', async () => {
    const { kernel, conn } = setup();
    const [login, who] = await Promise.all([kernel.dispatch(conn, { type: 'login', user: 'u9' }), kernel.dispatch(conn, { type: 'whoami' })]);
    expect(login.ok).toBe(true);
    expect(who).toMatchObject({ ok: true, data: { caller: { user: 'u9' } } });
  });

  it('answers $since after the events of the commands sent before it', async () => {
    const { kernel, conn } = setup();
    const [, , since] = await Promise.all([kernel.dispatch(conn, { type: 'inc' }), kernel.dispatch(conn, { type: 'inc' }), kernel.dispatch(conn, { type: '$since', seq: 0 })]);
    expect(since).toMatchObject({ ok: true, data: { seq: 2, events: [{ seq: 1 }, { seq: 2 }] } });
  });
});

describe('kernel close', () => {
  it('serves what already waits, refuses anything after with E_SHUTTING_DOWN, and resolves once all is answered', async () => {
    const { kernel, conn } = setup();
    const waiting = [kernel.dispatch(conn, { type: 'inc' }), kernel.dispatch(conn, { type: 'inc' })];
    let closed = false;
    const closing = kernel.close().then(() => (closed = true));
    expect(await kernel.dispatch(conn, { type: 'inc' })).toMatchObject({ ok: false, error: { code: 'E_SHUTTING_DOWN' } });
    expect(closed).toBe(false);
    expect(await Promise.all(waiting)).toEqual([{ ok: true, data: { value: 1 } }, { ok: true, data: { value: 2 } }]);
    await closing;
    expect(kernel.state).toEqual({ count: 2 });
  });

  it('aborts an upgrade not yet cut over (nothing changes), and still serves what waits', async () => {
    const { kernel, conn } = setup();
    const upgrade = kernel.upgrade(tiny({ version: 2 }));
    const waiting = kernel.dispatch(conn, { type: 'inc' });
    const closing = kernel.close();
    // an operator's cutover or abort racing the stop is told the server is stopping
    for (const call of [() => kernel.cutover(), () => kernel.abort()]) expect(call).toThrow(expect.objectContaining({ code: 'E_SHUTTING_DOWN' }));
    await closing;
    expect(await upgrade).toMatchObject({ result: 'refused', error: { code: 'E_SHUTTING_DOWN' } });
    expect(await waiting).toEqual({ ok: true, data: { value: 1 } });
    expect(kernel.state).toEqual({ count: 1 });
  });
});

describe('kernel dispatch: a handler stopped inside immer', () => {
  it('leaves immer working for the next commands', async () => {
    const { kernel, conn } = setup(
      { handle: `(s, c, ctx) => c.type === 'boom' ? { state: produce(s, (d) => { d.count = 5; for (;;) {} }) } : handle(s, c, ctx)` },
      { handlerTimeoutMs: 40 },
    );
    expect(await kernel.dispatch(conn, { type: 'boom' })).toMatchObject({ ok: false, error: { code: 'E_HANDLER_TIMEOUT' } });
    expect(kernel.state).toEqual({ count: 0 });
    for (let i = 1; i <= 3; i++) expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: i } });
    expect(Object.isFrozen(kernel.state)).toBe(true);
    expect(kernel.state).toEqual({ count: 3 });
  });
});
