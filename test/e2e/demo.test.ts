/** The demo's bots: they like on v1, react once v2 is pushed, and follow, mention and reply in threads on v3. */
import { afterAll, describe, expect, it } from 'vitest';
import { startDemo, tryNext, type Demo } from '../../src/demo.ts';
import { molt } from '../support/client.ts';

describe('the demo', () => {
  let demo: Demo | undefined;
  afterAll(async () => demo?.close());

  it('suggests commands in an order that works: the broken v2 only on v1, a rollback as a dry run first', () => {
    const commands = (v: number) => tryNext(v, '').filter((line) => line.trim().startsWith('npx ')).map((line) => line.trim());
    // examples/broken-throws is a v2 whose 1->2 throws: on v2 it is a v2 replacing v2 (E_SHADOW), on v3 a downgrade
    expect(commands(1)).toEqual(['npx molt push examples/broken-throws', 'npx molt push 2', 'npx molt push 3', 'npx molt rollback --dry-run', 'npx molt status']);
    expect(commands(2)).toEqual(['npx molt push 3', 'npx molt rollback --dry-run', 'npx molt status']);
    // the bots react, follow and are notified: a rollback drops that, and is refused until --accept-drops covers it
    expect(commands(3)).toEqual(['npx molt rollback --dry-run', 'npx molt status']);
    expect(tryNext(3, '').join('\n')).toContain('--accept-drops');
  });

  it('has bots that like on v1, react on v2, and follow, mention and reply to replies on v3', async () => {
    const versions: number[] = [];
    demo = await startDemo({ port: 0, operatorPort: 0, token: 'demo-suite-operator-token', bots: 4, pace: 100, logLevel: 'silent', onVersion: (v) => versions.push(v) });
    const total = (k: keyof Demo['bots'][number]['done']) => demo!.bots.reduce((n, b) => n + b.done[k], 0);
    await expect.poll(() => total('post') > 2 && total('like') > 0, { timeout: 15_000 }).toBe(true);
    const { server } = demo;
    const push = (v: string) => molt(['push', v, '--url', server.operatorUrl, '--token', server.token, '--json']);
    expect(JSON.parse((await push('2')).stdout)).toMatchObject({ result: 'committed' });
    await expect.poll(() => total('react') > 0, { timeout: 15_000 }).toBe(true);
    expect(JSON.parse((await push('3')).stdout)).toMatchObject({ result: 'committed' });
    await expect.poll(() => total('follow') > 0 && total('mention') > 0 && total('deepReply') > 0, { timeout: 30_000 }).toBe(true);
    const census = server.kernel.status().census;
    expect(census).toMatchObject({ follows: expect.any(Number), notifications: expect.any(Number) });
    expect(census['follows']).toBeGreaterThan(0);
    expect(census['notifications']).toBeGreaterThan(0);
    expect(versions).toEqual([1, 2, 3]);
  }, 90_000);

  it('starts from a seeded feed of N posts, made by the boot version itself', async () => {
    const seeded = await startDemo({ port: 0, operatorPort: 0, token: 'demo-suite-operator-token', bots: 0, posts: 2_000, boot: 3, logLevel: 'silent' });
    try {
      expect(seeded.server.kernel.status().census).toMatchObject({ posts: 2_000, users: 20 });
      expect(seeded.server.kernel.status().census['follows']).toBeGreaterThan(0);
    } finally {
      await seeded.close();
    }
  }, 60_000);
});
