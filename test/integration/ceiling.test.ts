/** The memory ceiling on the real feed: a small ceiling, reached by people using it. */
import { afterAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server.ts';
import { startChild, stopChildren } from '../support/child.ts';
import { TestClient } from '../support/client.ts';

afterAll(stopChildren);

describe('the memory ceiling', () => {
  it('refuses a post or a join past the ceiling with E_FULL, loses nothing, and takes posts again once some are deleted', async () => {
    const server = await startServer({ port: 0, operatorPort: 0, token: 'ceiling-test-token-0123', logLevel: 'silent', limits: { maxPosts: 3, maxUsers: 2 } });
    try {
      const a = await TestClient.open(server.wsUrl);
      const b = await TestClient.open(server.wsUrl);
      const c = await TestClient.open(server.wsUrl);
      await a.ok('join', { handle: 'first' });
      await b.ok('join', { handle: 'second' });
      expect(await c.send('join', { handle: 'third' })).toMatchObject({ ok: false, error: { code: 'E_FULL', message: expect.stringContaining('maximum of 2 users') } });
      expect(await c.send('resume', { token: 'nope' })).toMatchObject({ ok: false, error: { code: 'bad_session' } }); // the feed still answers

      const posts = [];
      for (let i = 1; i <= 3; i++) posts.push((await a.ok('post', { text: `post ${i}` })).post);
      const full = await b.send('post', { text: 'one too many' });
      expect(full).toMatchObject({ ok: false, error: { code: 'E_FULL', message: expect.stringContaining('maximum of 3 posts') } });
      // reading, liking and deleting still work at the ceiling
      expect(await b.send('like', { post: posts[0].id })).toMatchObject({ ok: true });
      expect((await b.ok('timeline')).posts.map((p: { text: string }) => p.text)).toEqual(['post 3', 'post 2', 'post 1']);
      await a.ok('delete', { post: posts[1].id });
      expect(await b.send('post', { text: 'room again' })).toMatchObject({ ok: true });
      expect(server.kernel.status().census).toEqual({ users: 2, posts: 3, likes: 1 });
      for (const x of [a, b, c]) x.close();
    } finally {
      await server.close();
    }
  });
});

describe('the heap high-water mark', () => {
  it('stops a feed that fills a small heap with E_FULL before V8 runs out of memory, and the process goes on', async () => {
    // A small heap (64 MB of old generation) and a mark at 45 MB, so that it fills in seconds (the
    // server alone takes ~18 MB of heap, the release parser 1.8 MB of it, and ~5 MB of buffers outside
    // it, which the mark counts too). Budgets out of the way: one client fills it as fast as it can.
    const { child, wsUrl, url } = await startChild({ NODE_OPTIONS: '--max-old-space-size=64', MOLT_MAX_HEAP_MB: '45', MOLT_COMMANDS_PER_SEC: '1e6', MOLT_COMMAND_BURST: '1e6', MOLT_IP_COMMANDS_PER_SEC: '1e6', MOLT_IP_COMMAND_BURST: '1e6', MOLT_MAX_POSTS: '10000000' });
    try {
      const c = await TestClient.open(wsUrl);
      await c.ok('join', { handle: 'filler' });
      const text = '😀'.repeat(490); // 2 KB each: emoji are two UTF-16 units
      let accepted = 0;
      let full: { error?: { code: string; message: string } } | undefined;
      for (let round = 0; round < 2000 && !full; round++) {
        const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => c.send('post', { text: `${round}.${i} ${text}` })));
        accepted += replies.filter((r) => r.ok).length;
        full = replies.find((r) => !r.ok);
      }
      expect(full).toMatchObject({ ok: false, error: { code: 'E_FULL', message: expect.stringContaining('memory ceiling') } });
      expect(accepted).toBeGreaterThan(1000);
      // Alive, still serving, and nothing accepted was lost.
      expect(await (await fetch(`${url}/livez`)).json()).toEqual({ ok: true });
      expect((await c.ok('timeline', { limit: 1 })).posts[0].text).toMatch(/^\d+\.\d+ (😀)+$/u);
      expect(child.exitCode).toBeNull();
      c.close();
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);
});

describe('the default heap mark', () => {
  it('is 75% of the old generation V8 was given, under its limit, and the second 87.5%', async () => {
    const { execFileSync } = await import('node:child_process');
    const mark = (mb: number) =>
      Number(execFileSync(process.execPath, [`--max-old-space-size=${mb}`, '--import', 'tsx', '-e', "import('./src/kernel/limits.ts').then((m) => console.log(m.DEFAULT_LIMITS.maxHeapMb))"], { encoding: 'utf8' }).trim());
    expect(mark(64)).toBe(48);
    expect(mark(4096)).toBe(3072);
    const halt = (mb: number) =>
      Number(execFileSync(process.execPath, [`--max-old-space-size=${mb}`, '--import', 'tsx', '-e', "import('./src/kernel/limits.ts').then((m) => console.log(m.DEFAULT_LIMITS.haltHeapMb))"], { encoding: 'utf8' }).trim());
    expect(halt(4096)).toBe(3584);
  }, 30_000);
});
