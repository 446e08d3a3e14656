/**
 * A release whose `post` handler never returns for some input only (a text with "slow" in it), on a real
 * server. A client that sends that input again and again, with posts that finish in between, never
 * trips the type-wide breaker (no three timeouts in a row); its address does: its posts are then refused
 * at once with E_CIRCUIT_OPEN, while another address posts as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { molt, TestClient } from '../support/client.ts';
import { slowVersion } from '../support/releases.ts';

const TOKEN = 'aside-test-token-0123456789';

describe('a handler slow for one input, asked for it again and again from one address', () => {
  let server: RunningServer;
  const slow = slowVersion('post', `String((c as { text?: unknown }).text).includes('slow')`);
  beforeAll(async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: TOKEN, logLevel: 'silent', boot: slow.dir, limits: { handlerTimeoutMs: 200, breakerOpenMs: 1_500 } });
  });
  afterAll(async () => {
    await server.close();
    slow.remove();
  });

  it('sets the type aside for that address only, then again, for longer, at its next timeout', async () => {
    const mallory = await TestClient.open(server.wsUrl, { localAddress: '127.0.0.2' });
    const ada = await TestClient.open(server.wsUrl, { localAddress: '127.0.0.3' });
    await mallory.ok('join', { handle: 'mallory' });
    await ada.ok('join', { handle: 'ada' });

    for (let i = 0; i < 3; i++) {
      expect((await mallory.send('post', { text: `slow ${i}` })).error?.code).toBe('E_HANDLER_TIMEOUT');
      if (i < 2) await mallory.ok('post', { text: `fine ${i}` }); // one in between finishes in time
    }
    const t0 = performance.now();
    const refused = await mallory.send('post', { text: 'fine again' });
    expect(performance.now() - t0).toBeLessThan(150); // not run: the limit was not spent on it
    expect(refused.error).toMatchObject({ code: 'E_CIRCUIT_OPEN', message: expect.stringMatching(/^'post' commands from your address keep running past the handler's time limit \(3 within 60 s, then any one\), so 'post' is set aside for your address for 2 s/) });
    expect(refused.error!.retryMs).toBeGreaterThan(1_000);
    expect(refused.error!.retryMs).toBeLessThanOrEqual(1_500);

    // the same address's other commands, and another address's posts, are served
    const timeline = await mallory.ok('timeline', {});
    expect(timeline.posts.map((p: { text: string }) => p.text)).toEqual(['fine 1', 'fine 0']);
    const posted = await ada.ok('post', { text: 'hello from another address' });
    expect(posted.post.text).toBe('hello from another address');

    // the type-wide breaker saw no three timeouts in a row: without the address's count nothing stops it
    const status = (await (await fetch(`${server.operatorUrl}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { circuits: unknown[]; asides: unknown[] };
    expect(status.circuits).toEqual([]);
    // the operator sees which address, and what
    expect(status.asides).toEqual([{ address: '127.0.0.2', command: 'post', times: 1, retryMs: expect.any(Number) }]);
    const shown = await molt(['status', '--url', server.operatorUrl, `--token=${TOKEN}`]);
    expect(shown.stdout).toMatch(/for one address {2}post from 127\.0\.0\.2 \(set aside once; refused for [12] s more\)/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/molt_address_circuit_open_total\{type="post"\} 1/);

    // once its time is up, posts from the address are run again; the next one that runs out its time
    // sets the type aside at once, for twice as long
    await new Promise((resolve) => setTimeout(resolve, refused.error!.retryMs! + 50));
    expect((await mallory.ok('post', { text: 'fine at last' })).post.text).toBe('fine at last');
    expect((await mallory.send('post', { text: 'slow again' })).error?.code).toBe('E_HANDLER_TIMEOUT');
    const again = await mallory.send('post', { text: 'fine' });
    expect(again.error?.code).toBe('E_CIRCUIT_OPEN');
    expect(again.error!.retryMs).toBeGreaterThan(2_500);
    expect(again.error!.retryMs).toBeLessThanOrEqual(3_000);
    mallory.close();
    ada.close();
  });
});
