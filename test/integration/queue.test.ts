import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { TestClient } from '../support/client.ts';

// E_QUEUE_FULL (PROTOCOL.md): more commands wait across all connections than the server queues. Its
// message is for a person: it must not say an upgrade is in progress when none is.
describe('E_QUEUE_FULL', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: 'queue-test-token-0123456789', logLevel: 'silent', limits: { maxQueuedCommands: 5 } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses past the queue with a message that does not claim an upgrade when none runs', async () => {
    const client = await TestClient.open(server.wsUrl);
    await client.ok('join', { handle: 'queued' });
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => client.send('post', { text: `q${i}` })));
    const full = replies.filter((r) => !r.ok);
    expect(full.length).toBeGreaterThan(0);
    for (const r of full) {
      expect(r.error?.code).toBe('E_QUEUE_FULL');
      expect(r.error?.message).not.toMatch(/upgrade/);
    }
    expect(server.kernel.upgrading).toBe(false);
    client.close();
  });
});
