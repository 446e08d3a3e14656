import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.ts';
import { TestClient, UNMETERED } from '../support/client.ts';

describe('$since asked for again and again', () => {
  it('does not hold other clients: a batch sends at most about 1 MiB of $since events, the rest wait their turn', async () => {
    const server = await startServer({ port: 0, operatorPort: 0, token: 'since-test-token-0123456', logLevel: 'silent', ws: UNMETERED });
    try {
      const writer = await TestClient.open(server.wsUrl);
      await writer.ok('join', { handle: 'writer' });
      // about 600 KB of events kept: each $since from the start carries all of them
      for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 100 }, (_, i) => writer.ok('post', { text: `${round}.${i} ${'lorem ipsum '.repeat(40)}` })));
      const seq = (await writer.ok('$ping')).seq - 1000;
      expect((await writer.ok('$since', { seq })).events).toHaveLength(1000);
      const quiet = await TestClient.open(server.wsUrl);
      const askers = await Promise.all(Array.from({ length: 20 }, () => TestClient.open(server.wsUrl)));
      // 400 of them at once: encoded, 240 MB
      const asked = askers.flatMap((a) => Array.from({ length: 20 }, () => a.send('$since', { seq })));
      const waits: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        await quiet.ok('$ping');
        waits.push(performance.now() - t0);
      }
      const answers = await Promise.all(asked);
      expect(answers.every((r) => r.ok && r.data.events.length === 1000)).toBe(true);
      // before: the first $ping waited for all 400 to be encoded and sent (seconds)
      expect(Math.max(...waits)).toBeLessThan(1000);
      for (const c of [writer, quiet, ...askers]) c.close();
    } finally {
      await server.close();
    }
  }, 60_000);
});
