/**
 * The session survives a page reload, and a page that missed more events than the server keeps
 * reloads its timeline instead of catching up (E_GAP). A server of its own, with a tiny event backlog.
 */
import { Unpackr } from 'msgpackr';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { TestClient } from '../support/client.ts';
import { CHROMIUM, HAVE_CHROMIUM, launch, watch } from '../support/browser.ts';

const T = 60_000;

describe.skipIf(!HAVE_CHROMIUM)('the browser session', () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let carol: TestClient;
  /** Error codes in the replies the page received, read off its real sockets. */
  const replyErrors: string[] = [];

  beforeAll(async () => {
    server = await startServer({ port: 0, operatorPort: 0, token: 'session-suite-token-0123', logLevel: 'silent', limits: { eventBacklog: 3 } });
    browser = await launch();
    page = await (await browser.newContext()).newPage();
    watch(page);
    const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
    page.on('websocket', (ws) =>
      ws.on('framereceived', ({ payload }) => {
        if (typeof payload === 'string') return;
        const f = unpackr.unpack(payload) as { t?: string; ok?: boolean; error?: { code: string } };
        if (f.t === 'reply' && f.ok === false && f.error) replyErrors.push(f.error.code);
      }),
    );
    await page.goto(server.url);
    carol = await TestClient.open(server.wsUrl);
    await carol.ok('join', { handle: 'carol' });
  }, T);

  afterAll(async () => {
    carol?.close();
    await browser?.close();
    await server?.close();
  });

  it('keeps the person signed in across a page reload', async () => {
    await page.locator('input[name=handle]').fill('dora');
    await page.locator('form.join button[type=submit]').click();
    await expect.poll(() => page.locator('.whoami .handle').textContent()).toBe('@dora');
    await page.reload();
    await expect.poll(() => page.locator('.whoami .handle').textContent(), { timeout: 10_000 }).toBe('@dora');
    expect(await page.locator('form.join').count()).toBe(0);
    // And the server agrees: the reloaded page is dora, online.
    const online = await carol.ok('online');
    expect(online.users.map((u: { handle: string }) => u.handle).sort()).toEqual(['carol', 'dora']);
  }, T);

  it('reloads the timeline when it missed more events than the server keeps', async () => {
    await page.evaluate(() => (window as unknown as { molt: { drop(): void } }).molt.drop());
    const texts = Array.from({ length: 6 }, (_, i) => `carol was busy ${i + 1}`);
    for (const text of texts) await carol.ok('post', { text });
    for (const text of texts) await page.locator('article.post', { hasText: text }).waitFor({ timeout: 15_000 });
    await expect.poll(() => page.locator('.conn').getAttribute('data-conn')).toBe('open');
    // It asked to catch up, was told the events are gone, and reloaded instead.
    expect(replyErrors).toContain('E_GAP');
    // Newest first, each once.
    const shown = await page.locator('article.post').allTextContents();
    const order = texts.map((t) => shown.findIndex((s) => s.includes(t)));
    expect(order).toEqual([...order].sort((x, y) => y - x));
    expect(new Set(order).size).toBe(texts.length);
  }, T);
});
