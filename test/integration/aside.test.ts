/**
 * A release whose `post` handler never returns for some input only (a text with "slow" in it), on a real
 * server. A client that sends that input again and again, with posts that finish in between, never
 * trips the type-wide breaker (no three timeouts in a row); its address does: its posts are then refused
 * at once with E_CIRCUIT_OPEN, while another address posts as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { molt, TestClient } from '../support/client.ts';
import { patchedVersion, slowVersion } from '../support/releases.ts';

const TOKEN = 'aside-test-token-0123456789';

/** A server booted on `release` (a patched v1) with short limits, for the describe block it is called in. */
function serving(release: { dir: string; remove(): void }): { server: RunningServer } {
  const at = {} as { server: RunningServer };
  beforeAll(async () => {
    at.server = await startServer({ port: 0, host: '127.0.0.1', operatorPort: 0, token: TOKEN, logLevel: 'silent', boot: release.dir, limits: { handlerTimeoutMs: 200, breakerOpenMs: 1_500 } });
  });
  afterAll(async () => {
    await at.server.close();
    release.remove();
  });
  return at;
}

/** mallory and ada, joined, each from an address of its own. */
async function twoAddresses(server: RunningServer) {
  const mallory = await TestClient.open(server.wsUrl, { localAddress: '127.0.0.2' });
  const ada = await TestClient.open(server.wsUrl, { localAddress: '127.0.0.3' });
  await mallory.ok('join', { handle: 'mallory' });
  await ada.ok('join', { handle: 'ada' });
  return { mallory, ada };
}

describe('a handler slow for one input, asked for it again and again from one address', () => {
  const at = serving(slowVersion('post', `String((c as { text?: unknown }).text).includes('slow')`));

  it('sets the type aside for that address only, then again, for longer, at its next timeout', async () => {
    const server = at.server;
    const { mallory, ada } = await twoAddresses(server);

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
    // (a CLI process may take longer to start than the 1.5 s it is set aside for)
    expect(shown.stdout).toMatch(/for one address {2}post from 127\.0\.0\.2 \(set aside once; (refused for [12] s more|its next timeout sets it aside again)\)/);
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
  }, 30_000);
});

describe('handlers slow for some input in many types, asked for in turn from one address', () => {
  // every command type never returns when the command says slow: true
  const at = serving(patchedVersion(`if ((c as { slow?: unknown }).slow === true) for (;;) {}\n  return served(s, c, ctx);`));

  it('sets every command of that address aside once its timeouts of all types reach 9 within 60 s, though no type reached 3', async () => {
    const server = at.server;
    const { mallory, ada } = await twoAddresses(server);
    // five types in turn, each at most twice: per type, never set aside
    const types = ['timeline', 'online', 'post', 'like', 'thread'];
    for (let i = 0; i < 9; i++) expect((await mallory.send(types[i % types.length]!, { slow: true })).error?.code).toBe('E_HANDLER_TIMEOUT');
    const t0 = performance.now();
    const refused = await mallory.send('timeline', {});
    expect(performance.now() - t0).toBeLessThan(150); // not run
    expect(refused.error).toMatchObject({ code: 'E_CIRCUIT_OPEN', message: expect.stringMatching(/^commands from your address keep running past the handler's time limit \(9 of any types within 60 s, then any one\), so every command from your address is set aside for 2 s/) });
    // the kernel's own still answer, and another address is served
    expect(await mallory.send('$ping', {})).toMatchObject({ ok: true });
    expect((await ada.ok('post', { text: 'hello from another address' })).post.text).toBe('hello from another address');
    const status = (await (await fetch(`${server.operatorUrl}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { circuits: { timeouts: number }[]; asides: unknown[] };
    // no type ran out its time three times in a row: the type-wide breaker set nothing aside
    expect(status.circuits.every((c) => c.timeouts < 3)).toBe(true);
    expect(status.asides).toEqual([{ address: '127.0.0.2', command: '*', times: 1, retryMs: expect.any(Number) }]);
    const shown = await molt(['status', '--url', server.operatorUrl, `--token=${TOKEN}`]);
    // (a CLI process may take longer to start than the 1.5 s it is set aside for)
    expect(shown.stdout).toMatch(/for one address {2}every command from 127\.0\.0\.2 \(set aside once; (refused for [12] s more|its next timeout sets it aside again)\)/);
    // its time up, the address is served again
    await new Promise((resolve) => setTimeout(resolve, refused.error!.retryMs! + 50));
    expect(await mallory.ok('timeline', {})).toMatchObject({ posts: expect.any(Array) });
    mallory.close();
    ada.close();
  }, 30_000);
});
