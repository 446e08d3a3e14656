/**
 * One person, several tabs, and the join form, in real Chromium against a real server: a sign-out in
 * one tab signs the other tabs of the browser out (they share the session token), focus lands in the
 * composer however Join is pressed, a composer writes right-to-left text right to left, and a handle the feed would refuse is refused on the page, without
 * spending the join rate limit.
 */
import { Unpackr } from 'msgpackr';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { TestClient } from '../support/client.ts';
import { HAVE_CHROMIUM, launch, watch } from '../support/browser.ts';
import { join } from './pages.ts';

const T = 60_000;
const focused = (page: Page) => page.evaluate(() => document.activeElement?.getAttribute('name') ?? document.activeElement?.tagName ?? null);

describe.skipIf(!HAVE_CHROMIUM)('tabs, the join form and the composer', () => {
  let server: RunningServer;
  let browser: Browser;
  let carol: TestClient;
  const online = async (): Promise<string[]> => ((await carol.ok('online')).users as { handle: string }[]).map((u) => u.handle).sort();

  beforeAll(async () => {
    server = await startServer({ port: 0, operatorPort: 0, token: 'tabs-suite-token-0123456', logLevel: 'silent' });
    browser = await launch();
    carol = await TestClient.open(server.wsUrl);
    await carol.ok('join', { handle: 'carol' });
  }, T);

  afterAll(async () => {
    carol?.close();
    await browser?.close();
    await server?.close();
  });

  it('signs every tab of the browser out when one tab signs out, keeping their drafts', async () => {
    const ctx = await browser.newContext();
    const a = await ctx.newPage();
    const b = await ctx.newPage();
    for (const p of [a, b]) watch(p);
    await a.goto(server.url);
    await join(a, 'kate');
    // the second tab shares the session: it is kate too
    await b.goto(server.url);
    await expect.poll(() => b.locator('.whoami .handle').textContent(), { timeout: 10_000 }).toBe('@kate');
    await b.locator('textarea[name=draft]').fill('half a thought');
    expect(await online()).toEqual(['carol', 'kate']);

    await a.locator('.whoami button', { hasText: 'Sign out' }).click();
    await a.locator('form.join').waitFor();
    // the other tab follows, says why, and keeps the draft
    await b.locator('form.join').waitFor({ timeout: 5_000 });
    expect(await b.locator('.whoami').count()).toBe(0);
    expect(await b.locator('#notice').textContent()).toContain('You are signed out: your session ended in another tab of this browser (you were @kate). Your draft is kept.');
    expect(await b.locator('form.join .kept').textContent()).toBe('Your draft is kept: it comes back when you join.');
    // and it no longer speaks for kate: no connection of the server is kate's any more
    await expect.poll(online).toEqual(['carol']);
    expect(await b.evaluate(() => (window as unknown as { molt: { state(): { me: unknown } } }).molt.state().me)).toBeNull();
    // joining again brings the draft back
    await join(b, 'kate2');
    expect(await b.locator('textarea[name=draft]').inputValue()).toBe('half a thought');
    await ctx.close();
  }, T);

  it('moves focus to the composer after joining, by clicking Join or pressing Enter', async () => {
    for (const how of ['click', 'Enter'] as const) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      watch(page);
      await page.goto(server.url);
      await page.locator('input[name=handle]').fill(`focus_${how}`);
      if (how === 'click') await page.locator('form.join button[type=submit]').click();
      else await page.locator('input[name=handle]').press('Enter');
      await expect.poll(() => page.locator('.whoami .handle').textContent()).toBe(`@focus_${how}`);
      await expect.poll(() => focused(page), { message: how }).toBe('draft');
      await ctx.close();
    }
  }, T);

  it('writes right-to-left text right to left in the main and the reply composer', async () => {
    await carol.ok('post', { text: 'carol asks something' });
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    watch(page);
    await page.goto(server.url);
    await join(page, 'rtl_writer');
    const direction = (selector: string) => page.locator(selector).evaluate((el) => getComputedStyle(el).direction);
    await page.locator('textarea[name=draft]').fill('שלום לכולם');
    expect(await direction('textarea[name=draft]')).toBe('rtl');
    await page.locator('textarea[name=draft]').fill('hello everyone');
    expect(await direction('textarea[name=draft]')).toBe('ltr');
    await page.locator('#page article.post', { hasText: 'carol asks something' }).locator('.act.reply').click();
    await page.locator('textarea[name^="reply-"]').fill('مرحبا بالجميع');
    expect(await direction('textarea[name^="reply-"]')).toBe('rtl');
    await ctx.close();
  }, T);

  it('refuses a handle the feed would refuse on the page, without asking the server', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    watch(page);
    const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
    const sent: string[] = [];
    page.on('websocket', (ws) =>
      ws.on('framesent', ({ payload }) => {
        if (typeof payload !== 'string') sent.push(String((unpackr.unpack(payload) as { type?: unknown }).type));
      }),
    );
    await page.goto(server.url);
    const error = page.locator('form.join .inline-error');
    for (const typo of ['ab', 'has space', 'x'.repeat(25), 'dots.and-dashes']) {
      await page.locator('input[name=handle]').fill(typo);
      await page.locator('form.join button[type=submit]').click();
      await expect.poll(() => error.textContent(), { message: typo }).toBe('A handle is 3 to 20 letters, digits or underscores.');
      expect(await error.isVisible()).toBe(true);
    }
    expect(sent.filter((t) => t === 'join')).toEqual([]);
    // the join budget (3 at once for a connection) is untouched: a good handle still joins
    await join(page, 'good_handle_20_chars');
    expect(sent.filter((t) => t === 'join')).toEqual(['join']);
    await ctx.close();
  }, T);
});
