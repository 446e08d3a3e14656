/**
 * The page's Content-Security-Policy is one the client actually satisfies: a real Chromium loads the
 * page, joins, posts, likes, follows `molt push 2` (a new view module and its CSS) and `molt rollback`,
 * then `molt push 3` and its own pages (a profile, notifications),
 * and not one violation is reported, neither as a `securitypolicyviolation` event nor in the console.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { molt } from '../support/client.ts';

const CHROMIUM = '/usr/bin/chromium';
const T = 60_000;

describe.skipIf(!existsSync(CHROMIUM))('the Content-Security-Policy in Chromium', () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const console_: string[] = [];

  beforeAll(async () => {
    server = await startServer({ port: 0, operatorPort: 0, token: 'csp-suite-token-0123456789', logLevel: 'silent' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    page = await (await browser.newContext()).newPage();
    page.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (err) => console_.push(`pageerror: ${err.message}`));
    // Collect every violation the page itself sees, from the first byte.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
    });
  }, T);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const violations = () => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
  const operate = (...args: string[]) => molt([...args, '--url', server.operatorUrl, `--token=${server.token}`, '--json']);

  it('loads, joins, posts and follows upgrades and a rollback, and v3 pages, with no violation', async () => {
    const res = await page.goto(server.url);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('input[name=handle]').fill('strict');
    await page.locator('form.join button[type=submit]').click();
    await expect.poll(() => page.locator('.whoami .handle').textContent()).toBe('@strict');
    await page.locator('textarea[name=draft]').fill('Posted under a strict policy.');
    await page.locator('#me form.composer button[type=submit]').click();
    await page.locator('article.post', { hasText: 'strict policy' }).waitFor();
    await page.locator('article.post .act.like').first().click();

    expect((await operate('push', '2')).code).toBe(0);
    await expect.poll(() => page.evaluate(() => document.body.dataset['version'])).toBe('2');
    // the v2 view's own CSS went into the nonce'd style element, and applies
    await expect.poll(() => page.evaluate(() => document.getElementById('view-css')?.textContent?.length ?? 0)).toBeGreaterThan(0);
    expect((await operate('rollback')).code).toBe(0);
    await expect.poll(() => page.evaluate(() => document.body.dataset['version'])).toBe('1');
    expect(await violations()).toEqual([]);
    await page.reload();
    await page.locator('article.post', { hasText: 'strict policy' }).waitFor();
    expect(await violations()).toEqual([]);

    // v3 brings pages of its own (a profile, notifications): each page load has the policy too
    expect((await operate('push', '3')).code).toBe(0);
    await expect.poll(() => page.evaluate(() => document.body.dataset['version'])).toBe('3');
    for (const route of ['/@strict', '/notifications']) {
      const r = await page.goto(`${server.url}${route}`);
      expect(r?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
      await expect.poll(() => page.evaluate(() => document.body.dataset['version'])).toBe('3');
      await page.waitForTimeout(300);
      expect(await violations()).toEqual([]);
    }

    expect(console_.filter((l) => /Content Security Policy|Refused to/i.test(l))).toEqual([]);
  }, T);
});
