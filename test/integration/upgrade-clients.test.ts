/**
 * Clients that misbehave at the worst moments of an upgrade, on a real server with real sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { buildRelease } from '../../src/release/build.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { TestClient, UNMETERED } from '../support/client.ts';
import { buildV1 } from '../feed/build.ts';

const TOKEN = 'upgrade-clients-token-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: RunningServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

describe('a client that closes its socket during the cut-over', () => {
  it('has the commands it sent before its close served signed in, by the new version, as they would be without an upgrade', async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: TOKEN, logLevel: 'silent', ws: UNMETERED, limits: { rehearsalHeapMb: 512 }, kernel: { initialState: buildV1(2000, 50) } });
    const writer = await TestClient.open(server.wsUrl);
    const watcher = await TestClient.open(server.wsUrl);
    await writer.ok('join', { handle: 'writer' });
    // each leaves as soon as the cut-over begins, with a last post sent on the way out: it waits for the
    // cut-over, and its socket closes meanwhile
    const leaving: TestClient[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle: `leaving${i}` });
      void c.waitFor((f) => f.t === 'upgrade' && f.phase === 'cutover', 30_000).then(() => {
        void c.send('post', { text: `bye ${i}` });
        c.close();
      });
      leaving.push(c);
    }
    // writes keep the cut-over's catch-up busy, so the pause outlasts the closes
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        void writer.send('post', { text: `w${i}` });
        await sleep(1);
      }
    })();
    const v2 = await buildRelease(2);
    const res = await fetch(`${server.operatorUrl}/upgrade`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ release: { code: v2.code, view: v2.view, hash: v2.hash } }) });
    expect(((await res.json()) as { result: string }).result).toBe('committed');
    writing = false;
    await writes;
    await writer.ok('$ping');
    for (const c of leaving) while (!c.closed) await sleep(10);
    await sleep(200);
    await watcher.ok('$ping');

    const text = (f: ServerFrame): string => (f.t === 'event' && f.event.type === 'post' ? String((f.event['post'] as { text: string }).text) : '');
    const byes = watcher.frames.filter((f) => text(f).startsWith('bye'));
    // (before: none landed; each ran signed out once its socket had closed, and was refused not_joined)
    expect(byes.map(text).sort()).toEqual(leaving.map((_, i) => `bye ${i}`).sort());
    // served after the commit, by v2: they did wait for the cut-over
    expect(byes.every((e) => e.t === 'event' && e.version === 2)).toBe(true);
    // each connection left once its last command was answered: its user went offline, nothing kept
    expect(server.kernel.connections).toBe(2);
    const online = await writer.ok('online');
    expect(online.users.map((u: { handle: string }) => u.handle)).toEqual(['writer']);
  }, 60_000);
});
