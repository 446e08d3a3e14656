import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.ts';
import { TestClient, UNMETERED } from '../support/client.ts';

describe('a client that stops reading', () => {
  it('is closed with 1008 once its unsent frames pass the limit, and the others go on', async () => {
    const server = await startServer({ port: 0, operatorPort: 0, token: 'backpressure-token-0123', logLevel: 'silent', ws: { ...UNMETERED, maxBufferedBytes: 64 * 1024, closeGraceMs: 500 } });
    try {
      const slow = await TestClient.open(server.wsUrl);
      const fast = await TestClient.open(server.wsUrl);
      await fast.ok('join', { handle: 'chatty' });
      expect(server.kernel.status().connections).toBe(2);
      // The slow client's process stops reading its socket: frames pile up on the server's side.
      (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      // Loopback and the OS buffers absorb megabytes before anything waits in the server: post in bursts.
      for (let round = 0; round < 100 && server.kernel.status().connections > 1; round++)
        await Promise.all(Array.from({ length: 100 }, (_, i) => fast.ok('post', { text: `${round}.${i} ${'words '.repeat(80)}` })));
      expect(server.kernel.status().connections).toBe(1);
      expect(fast.closed).toBeNull();
      expect((await fast.ok('timeline', { limit: 1 })).posts).toHaveLength(1);
      (slow.socket as unknown as { _socket: { resume(): void } })._socket.resume();
      await expect.poll(() => slow.closed?.code, { timeout: 5000 }).toBe(1008);
      expect(slow.closed?.reason).toBe('too slow: too many frames waiting');
    } finally {
      await server.close();
    }
  }, 30_000);

  it('closes clients that fall behind once all of them together leave more than the total unread, each below its own limit', async () => {
    const server = await startServer({ port: 0, operatorPort: 0, token: 'backpressure-token-0123', logLevel: 'silent', ws: { ...UNMETERED, maxBufferedBytes: 16 * 1024 * 1024, maxBufferedTotal: 4 * 1024 * 1024, closeGraceMs: 30_000 } });
    try {
      const slow = await Promise.all(Array.from({ length: 8 }, () => TestClient.open(server.wsUrl)));
      const fast = await TestClient.open(server.wsUrl);
      await fast.ok('join', { handle: 'chatty' });
      for (const c of slow) (c.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      // about 6 MB of events to each slow client: past what loopback absorbs, far below its own 16 MiB
      for (let round = 0; round < 100 && server.kernel.status().connections > 1; round++)
        await Promise.all(Array.from({ length: 100 }, (_, i) => fast.ok('post', { text: `${round}.${i} ${'words '.repeat(80)}` })));
      expect(server.kernel.status().connections).toBe(1);
      expect(fast.closed).toBeNull();
      for (const c of slow) (c.socket as unknown as { _socket: { resume(): void } })._socket.resume();
      for (const c of slow) await expect.poll(() => c.closed?.reason, { timeout: 5000 }).toBe('too slow: too many frames waiting');
    } finally {
      await server.close();
    }
  }, 60_000);
});
