/**
 * A driver we did not write talks to the server: Debian's python3-websockets and python3-msgpack, as a
 * client written from the docs would (test/drivers/molt_driver.py). `.ci/run` installs both; where
 * they are missing the test is skipped, and says so.
 */
import { execFileSync, execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.ts';

const PYTHON = '/usr/bin/python3';
const DRIVER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../drivers/molt_driver.py');

function hasDriver(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import websockets, msgpack'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn(`skipped: ${PYTHON} with websockets and msgpack is missing (apt-get install python3-websockets python3-msgpack)`);
    return false;
  }
}

describe.skipIf(!hasDriver())('a Python client (python3-websockets + python3-msgpack)', () => {
  it('joins, pipelines, gets its replies in order with bad frames in their place, reads events and the timeline, and meets the limits', async () => {
    const server = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: 'python-driver-token-0123', logLevel: 'silent', ws: { commandBurst: 100 } });
    try {
      const out = await new Promise<string>((resolve, reject) =>
        execFile(PYTHON, [DRIVER, server.wsUrl, 'pythonista'], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
      );
      const seen = JSON.parse(out);
      expect(seen.hello).toMatchObject({ t: 'hello', protocol: 1, boot: server.kernel.boot, version: 1, seq: 0, view: expect.stringMatching(/^\/views\/[0-9a-f]{64}\.js$/) });
      expect(seen.hello.commands).toContain('post');
      expect(seen.hello.commands).not.toContain('$ping');
      expect(seen.hello_types).toMatchObject({ protocol: 'int', boot: 'str', seq: 'int', commands: 'list' });
      expect(seen.join).toEqual({ ok: true, user: { id: 'u1', handle: 'pythonista' }, has_token: true });
      expect(seen.order).toEqual([...Array.from({ length: 40 }, (_, i) => 100 + i), 200, 'E_BAD_FRAME', 201]);
      expect(seen.posted).toBe(40);
      expect(seen.bad_type).toBe('E_BAD_COMMAND');
      expect(seen.at_type).toBe('float'); // as PROTOCOL.md says: a whole number in a float64
      expect(seen.events).toEqual({ count: 42, consecutive: true, post_events: 40 }); // joined, presence, 40 posts
      expect(seen.since).toBe(42);
      expect(seen.timeline).toBe(40);
      expect(seen.join_refusal).toEqual({ code: 'E_RATE_LIMITED', retryMs: expect.any(Number) });
      expect(seen.foreign_origin).toBe(403);
    } finally {
      await server.close();
    }
  }, 40_000);
});
