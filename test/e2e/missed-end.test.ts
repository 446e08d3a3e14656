/**
 * A page whose socket is down when an upgrade ends misses the frame that says so. When it comes back,
 * its hello says which release runs: the page must not go on saying "Upgrading..." for good (found in
 * Chromium, offline during a paced push 3: the panel stayed at 1% long after v3 was running), nor
 * go on showing an attempt that ended before it went offline as the last word once another release
 * runs (found in Chromium: back on v3, the panel still said "the feed keeps running v1").
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRelease } from '../../src/release/build.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { HAVE_CHROMIUM, launch, watch } from '../support/browser.ts';

const T = 60_000;

describe.skipIf(!HAVE_CHROMIUM)('an upgrade that ends while the page is offline', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    server = await startServer({ port: 0, operatorPort: 0, token: 'missed-end-token-0123', logLevel: 'silent' });
    browser = await launch();
    context = await browser.newContext();
    page = await context.newPage();
    watch(page);
    await page.goto(server.url);
    await page.locator('.conn[data-conn="open"]').waitFor({ timeout: 20_000 });
  }, T);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const offlineWhile = async (during: () => Promise<unknown>) => {
    await context.setOffline(true);
    await page.evaluate(() => (window as unknown as { molt: { drop(): void } }).molt.drop());
    await during();
    await context.setOffline(false);
    await expect.poll(() => page.locator('.conn').getAttribute('data-conn'), { timeout: 20_000 }).toBe('open');
  };

  it('a committed one: the panel says it committed, and the page runs the new version', async () => {
    const v2 = await buildRelease(2);
    const held = server.kernel.upgrade({ code: v2.code, view: v2.view, hash: v2.hash }, { hold: true });
    await page.locator('.upgrade-panel[data-outcome="running"]').waitFor({ timeout: 20_000 });
    await expect.poll(() => server.kernel.status().upgrade?.held ?? false, { timeout: 20_000 }).toBe(true);
    await offlineWhile(async () => {
      server.kernel.cutover();
      expect((await held).result).toBe('committed');
    });
    await page.locator('.upgrade-panel[data-outcome="committed"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#status .upgrading').count()).toBe(0);
  }, T);

  it('one that ended otherwise: the page stops saying that it runs', async () => {
    const held = server.kernel.rollback({ hold: true, acceptDrops: { reactions: 1_000 } });
    await page.locator('.upgrade-panel[data-outcome="running"]').waitFor({ timeout: 20_000 });
    await expect.poll(() => server.kernel.status().upgrade?.held ?? false, { timeout: 20_000 }).toBe(true);
    await offlineWhile(async () => {
      server.kernel.abort();
      expect((await held).result).toBe('refused');
    });
    await expect.poll(() => page.locator('.upgrade-panel[data-outcome="running"]').count(), { timeout: 10_000 }).toBe(0);
    expect(await page.locator('#status .upgrading').count()).toBe(0);
  }, T);

  it('one that ended before the socket went down, with other releases run since: its panel goes', async () => {
    const v3 = await buildRelease(3);
    const held = server.kernel.upgrade({ code: v3.code, view: v3.view, hash: v3.hash }, { hold: true });
    await expect.poll(() => server.kernel.status().upgrade?.held ?? false, { timeout: 20_000 }).toBe(true);
    server.kernel.abort();
    expect((await held).result).toBe('refused');
    await expect.poll(() => page.locator('.upgrade-panel .refusal-note').textContent()).toBe('Nothing changed: the feed keeps running v2.');
    await offlineWhile(async () => expect((await server.kernel.upgrade({ code: v3.code, view: v3.view, hash: v3.hash })).result).toBe('committed'));
    await expect.poll(() => page.locator('.status .version').textContent(), { timeout: 10_000 }).toBe('v3');
    expect(await page.locator('.upgrade-panel').count()).toBe(0);
  }, T);
});
