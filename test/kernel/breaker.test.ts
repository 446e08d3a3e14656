/**
 * The circuit breaker (src/kernel/breaker.ts): a command type whose handler keeps running out its time
 * is set aside for a while, so that one broken handler holds neither the other commands nor the
 * operator's way out of it.
 */
import { describe, expect, it } from 'vitest';
import { Kernel, type Connection } from '../../src/kernel/kernel.ts';
import { framesTo } from '../../src/transport/frames.ts';
import { tiny } from '../support/tiny.ts';

/** `boom` loops forever when asked to (`loop: true`), and answers at once otherwise. */
const BOOM = `(s, c, ctx) => { if (c.type === 'boom') { if (c.loop) for (;;) {} return { state: s, reply: 'fine' }; } return handle(s, c, ctx) }`;
const COMMANDS = ['inc', 'whoami', 'boom'];

function setup(limits: Record<string, number>) {
  const kernel = new Kernel(tiny({ handle: BOOM, commands: COMMANDS }), { limits: { handlerTimeoutMs: 100, breakerTimeouts: 3, breakerOpenMs: 300, ...limits } });
  const conn = kernel.connect(framesTo(() => {}));
  return { kernel, conn };
}

const code = (r: { ok: boolean; error?: { code: string } }) => (r.ok ? 'ok' : r.error!.code);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the circuit breaker', () => {
  it('sets a type aside after three timeouts in a row: refused at once with retryMs, other types served, status says so', async () => {
    const { kernel, conn } = setup({});
    for (let i = 0; i < 3; i++) expect(code(await kernel.dispatch(conn, { type: 'boom', loop: true }))).toBe('E_HANDLER_TIMEOUT');
    const t0 = performance.now();
    const r = await kernel.dispatch(conn, { type: 'boom', loop: true });
    expect(performance.now() - t0).toBeLessThan(100); // not run: the limit was not spent on it
    expect(r).toMatchObject({ ok: false, error: { code: 'E_CIRCUIT_OPEN', message: expect.stringMatching(/handle\('boom'\) ran past its time limit on 3 'boom' commands in a row; 'boom' is set aside for 1 s, then tried again/) } });
    const retryMs = !r.ok ? r.error.retryMs! : 0;
    expect(retryMs).toBeGreaterThan(0);
    expect(retryMs).toBeLessThanOrEqual(300);
    // even one that would not loop: the type is set aside, not the command
    expect(code(await kernel.dispatch(conn, { type: 'boom' }))).toBe('E_CIRCUIT_OPEN');
    expect(await kernel.dispatch(conn, { type: 'inc' })).toEqual({ ok: true, data: { value: 1 } });
    expect(kernel.state).toEqual({ count: 1 });
    const [circuit] = kernel.status().circuits;
    expect(circuit).toMatchObject({ command: 'boom', timeouts: 3 });
    expect(circuit!.retryMs).toBeGreaterThan(0);
  });

  it('lets one command through once the time is up: another timeout sets the type aside for twice as long, a command that finishes brings it back', async () => {
    const { kernel, conn } = setup({});
    for (let i = 0; i < 3; i++) await kernel.dispatch(conn, { type: 'boom', loop: true });
    await sleep(320);
    expect(kernel.status().circuits[0]).toMatchObject({ command: 'boom', retryMs: 0 });
    // the one let through runs out its time again: set aside for 600 ms now
    expect(code(await kernel.dispatch(conn, { type: 'boom', loop: true }))).toBe('E_HANDLER_TIMEOUT');
    const again = await kernel.dispatch(conn, { type: 'boom' });
    expect(code(again)).toBe('E_CIRCUIT_OPEN');
    expect(!again.ok && again.error.retryMs).toBeGreaterThan(300);
    await sleep(620);
    // this one finishes in time: the type is served again, and it takes three timeouts in a row to set it aside anew
    expect(await kernel.dispatch(conn, { type: 'boom' })).toEqual({ ok: true, data: 'fine' });
    expect(kernel.status().circuits).toEqual([]);
    expect(code(await kernel.dispatch(conn, { type: 'boom', loop: true }))).toBe('E_HANDLER_TIMEOUT');
    expect(code(await kernel.dispatch(conn, { type: 'boom', loop: true }))).toBe('E_HANDLER_TIMEOUT');
    expect(code(await kernel.dispatch(conn, { type: 'boom' }))).toBe('ok');
  });

  it('counts timeouts in a row only: a command of the type that finishes in between starts the count again', async () => {
    const { kernel, conn } = setup({});
    const codes: string[] = [];
    for (const loop of [true, true, false, true, true, false, true, true]) codes.push(code(await kernel.dispatch(conn, { type: 'boom', loop })));
    expect(codes).toEqual(['E_HANDLER_TIMEOUT', 'E_HANDLER_TIMEOUT', 'ok', 'E_HANDLER_TIMEOUT', 'E_HANDLER_TIMEOUT', 'ok', 'E_HANDLER_TIMEOUT', 'E_HANDLER_TIMEOUT']);
  });

  it('is off at breakerTimeouts 0: every command runs, however often it times out', async () => {
    const { kernel, conn } = setup({ breakerTimeouts: 0 });
    for (let i = 0; i < 5; i++) expect(code(await kernel.dispatch(conn, { type: 'boom', loop: true }))).toBe('E_HANDLER_TIMEOUT');
    expect(kernel.status().circuits).toEqual([]);
  });

  // The two tests below upgrade a new kernel, which starts its rehearsal process: with the two cores
  // loaded (two other processes spinning, and other tests) the start alone took 17 s, and the tests
  // 18-30 s, at the 30 s every test has. What they assert does not depend on how long that takes.
  it('starts a new release with nothing set aside', async () => {
    const { kernel, conn } = setup({ breakerOpenMs: 60_000 });
    for (let i = 0; i < 3; i++) await kernel.dispatch(conn, { type: 'boom', loop: true });
    expect(code(await kernel.dispatch(conn, { type: 'boom' }))).toBe('E_CIRCUIT_OPEN');
    expect((await kernel.upgrade(tiny({ version: 2, handle: BOOM, commands: COMMANDS }))).result).toBe('committed');
    expect(kernel.status().circuits).toEqual([]);
    expect(await kernel.dispatch(conn, { type: 'boom' })).toEqual({ ok: true, data: 'fine' });
  }, 90_000);

  it('keeps a handler that loops on every command from holding the operator: an upgrade commits while clients keep sending it', async () => {
    const { kernel } = setup({ breakerOpenMs: 60_000 });
    const conns: Connection[] = Array.from({ length: 10 }, () => kernel.connect(framesTo(() => {})));
    let running = true;
    const seen: Record<string, number> = {};
    // every client sends boom again as soon as the last one is answered, for as long as the upgrade runs
    const clients = conns.map(async (c) => {
      while (running) {
        const r = await kernel.dispatch(c, { type: 'boom', loop: true });
        seen[code(r)] = (seen[code(r)] ?? 0) + 1;
      }
    });
    const report = await kernel.upgrade(tiny({ version: 2, handle: BOOM, commands: COMMANDS }));
    const atCommit = { ...seen };
    running = false;
    await Promise.all(clients);
    expect(report.result).toBe('committed');
    expect(kernel.version).toBe(2);
    // three cost the process their limit, the rest were refused at once
    expect(atCommit['E_HANDLER_TIMEOUT']).toBe(3);
    expect(atCommit['E_CIRCUIT_OPEN']).toBeGreaterThan(10);
  }, 90_000);
});
