import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.ts';
import { TestClient, UNMETERED, molt } from '../support/client.ts';

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

  it('stay small when a client sends garbage: every field cut short, warnings sampled', async () => {
    let bytes = 0;
    let longest = 0;
    const lines: Record<string, any>[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) {
          bytes += line.length + 1;
          longest = Math.max(longest, line.length);
          lines.push(JSON.parse(line));
        }
        done();
      },
    });
    const server = await startServer({ port: 0, operatorPort: 0, token: 'log-test-operator-token-0123', logStream: stream, logLevel: 'info', ws: UNMETERED });
    try {
      const c = await TestClient.open(server.wsUrl);
      const before = bytes;
      const started = performance.now();
      // 500 unknown commands, each with a 60 KB type: 30 MB of client text
      const all = Array.from({ length: 500 }, (_, i) => c.send(`${i}${'x'.repeat(60_000)}`));
      const answers = await Promise.all(all);
      expect(answers.every((a) => a.error?.code === 'E_UNKNOWN_COMMAND')).toBe(true);
      await c.ok('$ping'); // one more turn, and more
      const warnings = lines.filter((l) => l.msg === 'command failed');
      expect(bytes - before).toBeLessThan(40_000);
      expect(longest).toBeLessThan(1_000);
      expect(warnings.length).toBeGreaterThan(0);
      // a burst of 60, and one more for each second the test took (the bucket refills at 60 a minute)
      expect(warnings.length).toBeLessThanOrEqual(60 + Math.ceil((performance.now() - started) / 1000));
      expect(warnings[0]!.command).toMatch(/^\d+x+… \(600\d\d chars\)$/);
      c.close();
    } finally {
      await server.close();
    }
    // the next warning that gets through says how many were left out
    const { boundedLog } = await import('../../src/transport/bounded-log.ts');
    const out: { obj: Record<string, unknown>; msg?: string }[] = [];
    let now = 0;
    const sink = { info() {}, error() {}, warn: (obj: object, msg?: string) => out.push({ obj: obj as Record<string, unknown>, msg }) };
    const log = boundedLog(sink, { fieldChars: 10, warningsPerMin: 2 }, () => now);
    for (let i = 0; i < 5; i++) log.warn({ n: i }, 'noisy');
    log.warn({ other: 'a'.repeat(50) }, 'another message');
    now += 30_000;
    log.warn({ n: 5 }, 'noisy');
    expect(out).toEqual([
      { obj: { n: 0 }, msg: 'noisy' },
      { obj: { n: 1 }, msg: 'noisy' },
      { obj: { other: 'aaaaaaaaaa… (50 chars)' }, msg: 'another message' },
      { obj: { n: 5, suppressed: 3 }, msg: 'noisy' },
    ]);
  }, 30_000);
});
