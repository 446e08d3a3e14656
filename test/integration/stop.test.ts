/**
 * A stop, as the operator's SIGTERM does it to `npm start`: the process stops accepting, answers every
 * command it already received, refuses what arrives after with E_SHUTTING_DOWN, sends each socket its
 * close after its replies, and exits 0. Tested on the real entry point with pipelined commands.
 */
import { once } from 'node:events';
import { Packr } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { startServer } from '../../src/server.ts';
import { startChild, stopChildren } from '../support/child.ts';
import { TestClient, UNMETERED } from '../support/client.ts';

afterAll(stopChildren);

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

describe('a stop (SIGTERM)', () => {
  it('answers every command already received, refuses later ones with E_SHUTTING_DOWN, closes with 1001 after the replies, exits 0', async () => {
    const { child, wsUrl } = await startChild({ MOLT_COMMANDS_PER_SEC: '1e6', MOLT_COMMAND_BURST: '1e6', MOLT_IP_COMMANDS_PER_SEC: '1e6', MOLT_IP_COMMAND_BURST: '1e6', MOLT_BATCH_SLICE_MS: '1' });
    const exited = once(child, 'exit');
    const c = await TestClient.open(wsUrl);
    await c.ok('join', { handle: 'pipeliner' });
    const from = c.frames.length;
    const sent: number[] = [];
    let id = 1000;
    let stopped = false;
    const replies = () => c.frames.slice(from).filter((f): f is Extract<ServerFrame, { t: 'reply' }> => f.t === 'reply');
    // Keep the pipe full: the signal lands with commands waiting, being served, and still on the wire.
    while (c.socket.readyState === c.socket.OPEN && sent.length < 20_000) {
      for (let k = 0; k < 20; k++) {
        sent.push(++id);
        c.socket.send(packr.pack({ id, type: 'post', text: `p${id}` }));
      }
      await new Promise((r) => setTimeout(r, 1));
      if (!stopped && replies().length >= 200) {
        stopped = true;
        child.kill('SIGTERM');
      }
    }
    await expect.poll(() => c.closed, { timeout: 10_000 }).not.toBeNull();
    const [code] = await exited;
    expect(code).toBe(0);
    expect(c.closed).toEqual({ code: 1001, reason: 'server shutting down' });

    // Every reply in order: applied ones, then refused ones; what has no reply came after them all.
    const got = replies();
    expect(got.map((r) => r.id)).toEqual(sent.slice(0, got.length));
    const firstRefused = got.findIndex((r) => !r.ok);
    expect(firstRefused).toBeGreaterThan(0);
    expect(got.slice(0, firstRefused).every((r) => r.ok)).toBe(true);
    expect(got.slice(firstRefused).every((r) => !r.ok && r.error.code === 'E_SHUTTING_DOWN')).toBe(true);
    // Nothing was applied without a word: a post event for every post acknowledged, and for no other.
    const events = new Set(c.frames.filter((f) => f.t === 'event' && f.event.type === 'post').map((f) => (f as unknown as { event: { post: { text: string } } }).event.post.text));
    const acked = got.filter((r) => r.ok).map((r) => `p${r.id}`);
    expect(events).toEqual(new Set(acked));
  }, 30_000);

  it('refuses a new connection once it is stopping', async () => {
    const { child, wsUrl } = await startChild();
    const exited = once(child, 'exit');
    const c = await TestClient.open(wsUrl);
    child.kill('SIGTERM');
    await expect.poll(() => c.closed?.code, { timeout: 10_000 }).toBe(1001);
    await expect(TestClient.open(wsUrl)).rejects.toThrow();
    expect((await exited)[0]).toBe(0);
  }, 30_000);

  it('answers the frames a socket sent that still wait for their turn to be read (E_SHUTTING_DOWN), before the close', async () => {
    const server = await startServer({ port: 0, operatorPort: 0, token: 'stop-test-token-0123456789', logLevel: 'silent', ws: { ...UNMETERED } });
    const c = await TestClient.open(server.wsUrl);
    await c.ok('join', { handle: 'burster' });
    const from = c.frames.length;
    // one burst: the server reads a few frames a turn and keeps the rest waiting in order
    const ids = Array.from({ length: 60 }, (_, i) => 5000 + i);
    for (const id of ids) c.socket.send(packr.pack({ id, type: 'timeline', limit: 1 }));
    await c.waitFor((f) => f.t === 'reply' && f.id === ids[0]);
    await server.close();
    await expect.poll(() => c.closed, { timeout: 10_000 }).toEqual({ code: 1001, reason: 'server shutting down' });
    const got = c.frames.slice(from).filter((f): f is Extract<ServerFrame, { t: 'reply' }> => f.t === 'reply');
    expect(got.map((r) => r.id)).toEqual(ids);
    const refused = got.filter((r) => !r.ok);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => !r.ok && r.error.code === 'E_SHUTTING_DOWN')).toBe(true);
  }, 30_000);
});
