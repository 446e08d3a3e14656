import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.ts';
import { TestClient, molt } from '../support/client.ts';

describe('logs', () => {
  it('write one line per upgrade phase with version, hash and timings, and never a token or post text', async () => {
    const lines: Record<string, any>[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const token = 'log-test-operator-token-0123';
    const server = await startServer({ port: 0, operatorPort: 0, token, logStream: stream, logLevel: 'info' });
    try {
      const c = await TestClient.open(server.wsUrl);
      const joined = await c.ok('join', { handle: 'logger' });
      await c.ok('post', { text: 'a very private thought' });
      await c.send('post', { text: 'x'.repeat(600) }); // refused: too long
      const push = await molt(['push', '2', '--url', server.operatorUrl, '--token', token, '--json']);
      expect(push.code).toBe(0);
      const report = JSON.parse(push.stdout);
      c.close();

      const phases = lines.filter((l) => l.upgrade === report.upgrade).map((l) => l.phase);
      expect(phases).toEqual(['begin', 'load', 'migrate', 'validate', 'shadow', 'cutover', 'committed']);
      const committed = lines.find((l) => l.upgrade === report.upgrade && l.phase === 'committed')!;
      expect(committed).toMatchObject({ from: 1, to: 2, release: report.to.release, pauseMs: expect.any(Number), phases: { load: expect.any(Number), migrate: expect.any(Number) } });
      const all = JSON.stringify(lines);
      expect(all).not.toContain(joined.token);
      expect(all).not.toContain(token);
      expect(all).not.toContain('a very private thought');
    } finally {
      await server.close();
    }
  }, 30_000);
});
