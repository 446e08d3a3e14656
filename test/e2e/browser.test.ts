/**
 * Two real pages against a real server: live posts, an upgrade pushed by the operator CLI that the
 * pages follow without reloading (drafts kept), reactions across pages, rollback, a refused release,
 * reconnect with catch-up, inline errors and phone width. Screenshots go to test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Unpackr } from 'msgpackr';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { CHROMIUM, HAVE_CHROMIUM, launch, watch } from '../support/browser.ts';
import { acceptDrops, join, operate } from './pages.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = path.join(ROOT, 'test-artifacts');
const T = 60_000;


const post = (page: Page, text: string) => page.locator('article.post', { hasText: text });

async function write(page: Page, text: string): Promise<void> {
  await page.locator('textarea[name=draft]').fill(text);
  await page.locator('#me form.composer button[type=submit]').click();
  await post(page, text).waitFor();
}

describe.skipIf(!HAVE_CHROMIUM)('the browser client', () => {
  let server: RunningServer;
  let browser: Browser;
  let ctxA: BrowserContext;
  let ctxB: BrowserContext;
  let a: Page;
  let b: Page;
  let navigations = 0;
  /** Upgrade frames page B receives wait here while `holdB` is set: the test photographs the
   *  panel mid-upgrade, then lets them through in order. */
  let holdB: Array<() => void> | null = null;
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer({ port: 0, operatorPort: 0, token: 'test-token-for-the-browser-suite', logLevel: 'silent' });
    browser = await launch();
    // Separate contexts: separate localStorage, so two people, not one person in two tabs.
    ctxA = await browser.newContext({ viewport: { width: 1180, height: 860 } });
    ctxB = await browser.newContext({ viewport: { width: 1180, height: 860 } });
    a = await ctxA.newPage();
    b = await ctxB.newPage();
    await b.routeWebSocket(/\/ws$/, (ws) => {
      const upstream = ws.connectToServer();
      upstream.onMessage((msg) => {
        if (holdB === null) return ws.send(msg);
        const frame = typeof msg === 'string' ? null : (unpackr.unpack(msg) as { t?: string; phase?: string });
        if (holdB.length > 0 || (frame?.t === 'upgrade' && frame.phase !== 'begin' && frame.phase !== 'load' && frame.phase !== 'migrate')) holdB.push(() => ws.send(msg));
        else ws.send(msg);
      });
    });
    for (const p of [a, b]) watch(p, () => (navigations += 1));
    await Promise.all([a.goto(server.url), b.goto(server.url)]);
  }, T);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows an empty feed, then both people join and a post appears live in the other page', async () => {
    await a.locator('.empty').waitFor();
    await expect.poll(() => a.locator('.status .version').textContent()).toBe('v1');
    await join(a, 'alice');
    await join(b, 'bob');
    await write(a, 'Hello from Alice: the feed is live.');
    await post(b, 'Hello from Alice').waitFor({ timeout: 5_000 });
    await write(b, 'Bob here. Molting is a good word for it.');
    await post(a, 'Bob here').waitFor();
    await post(b, 'Hello from Alice').locator('.act.like').click();
    await expect.poll(() => post(a, 'Hello from Alice').locator('.act.like .count').textContent()).toBe('1');
    await expect.poll(() => a.locator('#online .person').count()).toBe(2);
    await a.screenshot({ animations: 'disabled', path: path.join(SHOTS, '1-feed.png') });
  }, T);

  it('says inline why a post or a handle is refused', async () => {
    await a.locator('#me form.composer button[type=submit]').click();
    await expect.poll(() => a.locator('#me .inline-error').textContent()).toBe('Write something first.');
    await a.locator('textarea[name=draft]').fill('x'.repeat(505));
    await expect.poll(() => a.locator('#me .counter').textContent()).toBe('-5');
    await a.locator('#me form.composer button[type=submit]').click();
    await expect.poll(() => a.locator('#me .inline-error').textContent()).toContain('5 characters too long');
    await a.locator('textarea[name=draft]').fill('');

    const c = await browser.newContext({ viewport: { width: 375, height: 812 }, deviceScaleFactor: 2 });
    const phone = await c.newPage();
    await phone.goto(server.url);
    await phone.locator('input[name=handle]').fill('Alice');
    await phone.locator('form.join button[type=submit]').click();
    await expect.poll(() => phone.locator('form.join .inline-error').textContent()).toBe('That handle is taken.');
    await phone.screenshot({ animations: 'disabled', path: path.join(SHOTS, '2-handle-taken-phone.png') });
    await c.close();
  }, T);

  it('catches up on events missed while the socket was down', async () => {
    await a.evaluate(() => (window as unknown as { molt: { drop(): void } }).molt.drop());
    await write(b, 'Posted while Alice was offline.');
    await post(a, 'Posted while Alice was offline').waitFor({ timeout: 10_000 });
    await expect.poll(() => a.locator('.conn').getAttribute('data-conn')).toBe('open');
  }, T);

  it('follows `molt push 2` without reloading: phases, then reactions, with the draft kept', async () => {
    for (const p of [a, b]) await p.evaluate(() => ((window as unknown as { marker: string }).marker = 'same page'));
    const before = navigations;
    const draft = a.locator('textarea[name=draft]');
    await draft.fill('A half-written thought that must survive the upgrade');
    // A short window scrolled to the middle of the feed: the post at the top must stay put.
    await a.setViewportSize({ width: 1180, height: 520 });
    await a.evaluate(() => window.scrollTo(0, 330));
    await draft.focus({ preventScroll: true } as never);
    const anchorTop = () => post(a, 'Bob here').evaluate((el) => Math.round(el.getBoundingClientRect().top));
    const topBefore = await anchorTop();
    const scrolledBefore = await a.evaluate(() => window.scrollY);
    expect(scrolledBefore).toBeGreaterThan(0);

    holdB = [];
    const push = operate(server, 'push', '2');
    // Page A runs free: it commits and switches. Page B is held after migrate: mid-upgrade.
    await a.locator('.upgrade-panel[data-outcome="committed"]').waitFor({ timeout: 30_000 });
    await b.locator('.upgrade-panel .step[data-phase="migrate"][data-state="done"]').waitFor({ state: 'attached' });
    await expect.poll(() => b.locator('.upgrade-panel').getAttribute('data-outcome')).toBe('running');
    await b.screenshot({ animations: 'disabled', path: path.join(SHOTS, '3-upgrade-in-progress.png') });
    const held = holdB;
    holdB = null;
    for (const send of held) send();
    const result = await push;
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ result: 'committed', to: { version: 2 } });

    for (const p of [a, b]) {
      await p.locator('.upgrade-panel[data-outcome="committed"]').waitFor();
      await expect.poll(() => p.locator('.status .version').textContent()).toBe('v2');
      await post(p, 'Hello from Alice').locator('.reactions').waitFor();
      expect(await p.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('same page');
      for (const step of ['begin', 'load', 'migrate', 'validate', 'committed']) {
        expect(await p.locator(`.upgrade-panel .step[data-phase="${step}"]`).getAttribute('data-state')).toBe('done');
      }
    }
    expect(navigations).toBe(before);
    // Bob's v1 like is now a ❤️ reaction, and the panel showed the sample entity before and after.
    expect(await post(a, 'Hello from Alice').locator('.chip[data-emoji="❤️"] .count').textContent()).toBe('1');
    expect(await a.locator('.upgrade-panel .sample-box').count()).toBe(2);
    expect(await draft.inputValue()).toBe('A half-written thought that must survive the upgrade');
    expect(await a.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('draft');
    expect(Math.abs((await anchorTop()) - topBefore)).toBeLessThanOrEqual(1);
    await a.setViewportSize({ width: 1180, height: 860 });
    await a.evaluate(() => window.scrollTo(0, 0));
    await a.screenshot({ animations: 'disabled', path: path.join(SHOTS, '4-after-upgrade.png') });
  }, T);

  it('shows a reaction made in one page in the other', async () => {
    const target = post(b, 'Bob here');
    await target.locator('.chip.add').click();
    await target.locator('.picker .pick[data-emoji="🎉"]').click();
    await expect.poll(() => post(a, 'Bob here').locator('.chip[data-emoji="🎉"] .count').textContent()).toBe('1');
    await expect.poll(() => target.locator('.chip[data-emoji="🎉"]').getAttribute('aria-pressed')).toBe('true');
    await post(a, 'Bob here').locator('.chip[data-emoji="🎉"]').click();
    await expect.poll(() => post(b, 'Bob here').locator('.chip[data-emoji="🎉"] .count').textContent()).toBe('2');
    // Alice reacts twice to one post: v1 has one like per person, so rolling back will drop one.
    await post(a, 'Bob here').locator('.chip.add').click();
    await post(a, 'Bob here').locator('.picker .pick[data-emoji="❤️"]').click();
    await expect.poll(() => post(b, 'Bob here').locator('.chip[data-emoji="❤️"] .count').textContent()).toBe('1');
    await a.screenshot({ animations: 'disabled', path: path.join(SHOTS, '4b-reactions.png') });
  }, T);

  it('goes back to the likes UI on `molt rollback`', async () => {
    // as an operator does: read the dry run, then accept exactly the losses it showed
    const dry = JSON.parse((await operate(server, 'rollback', '--dry-run')).stdout);
    const result = await operate(server, 'rollback', ...acceptDrops(dry.dropped));
    expect(result.code, result.stderr).toBe(0);
    for (const p of [a, b]) {
      await expect.poll(() => p.locator('.status .version').textContent()).toBe('v1');
      await post(p, 'Hello from Alice').locator('.act.like').waitFor();
      expect(await p.locator('.reactions').count()).toBe(0);
      expect(await p.locator('.upgrade-panel').getAttribute('data-outcome')).toBe('committed');
    }
    // Everyone who reacted now likes once; Alice's second reaction is dropped, and the panel says so.
    expect(await post(a, 'Hello from Alice').locator('.act.like .count').textContent()).toBe('1');
    expect(await post(a, 'Bob here').locator('.act.like .count').textContent()).toBe('2');
    expect(await a.locator('.upgrade-panel .fact', { hasText: 'Dropped' }).locator('dd').textContent()).toBe('1 reactions');
    expect(await a.locator('textarea[name=draft]').inputValue()).toBe('A half-written thought that must survive the upgrade');
  }, T);

  it('shows why a broken release is refused and leaves the feed as it was', async () => {
    const feedBefore = await a.locator('#timeline').innerText();
    const result = await operate(server, 'push', 'examples/broken-throws');
    expect(result.code, result.stdout + result.stderr).toBe(1);
    for (const p of [a, b]) {
      await p.locator('.upgrade-panel[data-outcome="refused"]').waitFor({ timeout: 10_000 });
      await expect.poll(() => p.locator('.status .version').textContent()).toBe('v1');
    }
    expect(await a.locator('.upgrade-panel .refusal code').textContent()).toMatch(/^E_MIGRATION_THREW/);
    // the step it stopped in is the one marked failed (its migration threw), the ones after it skipped
    expect(await a.locator('.upgrade-panel .step[data-state="failed"]').getAttribute('data-phase')).toBe('migrate');
    expect(await a.locator('.upgrade-panel .step[data-phase="validate"]').getAttribute('data-state')).toBe('skipped');
    expect(await a.locator('#timeline').innerText()).toBe(feedBefore);
    await a.screenshot({ animations: 'disabled', path: path.join(SHOTS, '5-refused.png') });
  }, T);

  it('is usable at phone width', async () => {
    await b.setViewportSize({ width: 375, height: 812 });
    await b.screenshot({ animations: 'disabled', path: path.join(SHOTS, '6-phone-refused.png') });
    // The details fold away on their own after a while; a tap on the headline does it now.
    await b.locator('.upgrade-panel .upgrade-title').click();
    await b.locator('.upgrade-panel.collapsed').waitFor();
    await post(b, 'Bob here').locator('.act.reply').click();
    await b.locator('textarea[name^="reply-"]').fill('Replying from a phone.');
    await b.locator('.extras form.composer button[type=submit]').click();
    await post(b, 'Replying from a phone').waitFor();
    await expect.poll(() => post(a, 'Bob here').locator('.act.thread').textContent()).toBe('1 reply');
    await b.screenshot({ animations: 'disabled', path: path.join(SHOTS, '7-phone-feed.png') });
  }, T);
});

if (!HAVE_CHROMIUM) {
  describe('the browser client', () => {
    it.skip(`skipped: ${CHROMIUM} is absent (the e2e suite never downloads a browser)`, () => {});
  });
}
