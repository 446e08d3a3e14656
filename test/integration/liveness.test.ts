/** Dead peers: a ping every interval, and a peer that does not answer is gone within two. */
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.ts';
import type { ServerFrame } from '../../src/transport/protocol.ts';
import { TestClient } from '../support/client.ts';

const INTERVAL = 400;

describe('liveness', () => {
  it('closes a peer that stops answering pings and takes it out of presence within two intervals; a quiet live one stays', async () => {
    const server = await startServer({ port: 0, operatorPort: 0, token: 'liveness-test-token-0123', logLevel: 'silent', ws: { pingIntervalMs: INTERVAL } });
    try {
      const watcher = await TestClient.open(server.wsUrl);
      const quiet = await TestClient.open(server.wsUrl); // sends nothing at all, but its socket answers pings
      const frozen = await TestClient.open(server.wsUrl);
      await frozen.ok('join', { handle: 'frozen' });
      await watcher.waitFor((f) => f.t === 'event' && f.event.type === 'presence' && f.event['online'] === true);
      expect((await watcher.ok('online')).users.map((u: { handle: string }) => u.handle)).toEqual(['frozen']);

      // The frozen client's process stops: it reads nothing more, so it never sees a ping to answer.
      (frozen.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      const frozeAt = performance.now();
      const offline = (await watcher.waitFor((f) => f.t === 'event' && f.event.type === 'presence' && f.event['online'] === false, 5 * INTERVAL)) as Extract<ServerFrame, { t: 'event' }>;
      const took = performance.now() - frozeAt;
      expect(offline.event['user']).toMatchObject({ handle: 'frozen' });
      // two intervals, plus what timers on a busy machine may add
      expect(took).toBeLessThan(2 * INTERVAL + 250);
      expect((await watcher.ok('online')).users).toEqual([]);
      expect(server.kernel.connections).toBe(2);

      await new Promise((r) => setTimeout(r, 3 * INTERVAL));
      expect(quiet.closed).toBeNull();
      expect(server.kernel.connections).toBe(2);
      expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/molt_closed_peers_total\{reason="dead"\} 1/);
      watcher.close();
      quiet.close();
    } finally {
      await server.close();
    }
  }, 20_000);
});
