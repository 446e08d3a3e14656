/**
 * Feed v3 arriving in two open pages (two browser contexts: two people): `molt push 3` brings the tabs,
 * profiles, notifications and thread pages without a reload, drafts kept; follows, mentions and
 * replies to replies notify only the person addressed, live; edits show their history; rolling back
 * takes the new pages away cleanly. axe-core checks every page, in both themes. Screenshots of each
 * new page go to test-artifacts/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { CHROMIUM, HAVE_CHROMIUM, launch, watch } from '../support/browser.ts';
import { acceptDrops, join, operate, post, write } from './pages.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = path.join(ROOT, 'test-artifacts');
const AXE = readFileSync(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
const T = 60_000;

const shot = (page: Page, name: string) => page.screenshot({ animations: 'disabled', path: path.join(SHOTS, name) });

/** axe-core in the page: the serious and critical violations, as "rule: target" lines. */
async function axe(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    type Node = { target: string[]; any: { message: string }[] };
    const r = await (window as unknown as { axe: { run(ctx: unknown, o: unknown): Promise<{ violations: { id: string; impact: string; nodes: Node[] }[] }> } }).axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')} (${n.any[0]?.message ?? ''})`));
  });
  return result;
}

/**
 * Switch the theme and let the page come to rest before anything measures colours: the audit is of
 * colours at rest. Wait two frames, then until every transition and every finite animation running
 * has finished (a post that just arrived fades in; tabs ease their colours into a new theme).
 */
async function theme(page: Page, colorScheme: 'light' | 'dark'): Promise<void> {
  await page.emulateMedia({ colorScheme });
  await page.evaluate(async () => {
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
    const moving = document.getAnimations().filter((a) => a.effect?.getTiming().iterations !== Infinity);
    await Promise.all(moving.map((a) => a.finished.catch(() => undefined)));
  });
}

/**
 * The audit of one theme. What it finds is measured again after a pause, and only what is found both
 * times counts: twice in full runs axe measured the whoami line of the dark theme with the light
 * theme's text colour (#464655 on #1a1a21, contrast 1.86), a state of the page that was not at rest
 * and that a second look never found. A colour that is wrong stays wrong and fails the test; what was
 * seen once is printed.
 */
async function audit(page: Page, colorScheme: 'light' | 'dark'): Promise<string[]> {
  await theme(page, colorScheme);
  const first = await axe(page);
  if (first.length === 0) return [];
  await page.waitForTimeout(300);
  await theme(page, colorScheme);
  const again = new Set(await axe(page));
  for (const v of first) if (!again.has(v)) process.stderr.write(`axe (${colorScheme}), seen once and not again: ${v}\n`);
  return first.filter((v) => again.has(v)).map((v) => `${colorScheme} ${v}`);
}

async function axeBothThemes(page: Page): Promise<string[]> {
  const found = [...(await audit(page, 'light')), ...(await audit(page, 'dark'))];
  await theme(page, 'light');
  return found;
}

describe.skipIf(!HAVE_CHROMIUM)('feed v3 in the browser', () => {
  let server: RunningServer;
  let browser: Browser;
  let ctxA: BrowserContext;
  let ctxB: BrowserContext;
  let a: Page;
  let b: Page;
  let navigations = 0;
  let hello = '';

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer({ port: 0, operatorPort: 0, token: 'test-token-for-the-v3-suite', logLevel: 'silent', boot: 2 });
    browser = await launch();
    ctxA = await browser.newContext({ viewport: { width: 1180, height: 900 }, reducedMotion: 'reduce' });
    ctxB = await browser.newContext({ viewport: { width: 1180, height: 900 }, reducedMotion: 'reduce' });
    a = await ctxA.newPage();
    b = await ctxB.newPage();
    for (const p of [a, b]) watch(p, () => (navigations += 1));
    await Promise.all([a.goto(server.url), b.goto(server.url)]);
  }, T);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('has no serious accessibility problems on v2, signed out and in, in either theme', async () => {
    await a.locator('form.join').waitFor();
    expect(await axeBothThemes(a)).toEqual([]);
    await join(a, 'alice');
    await join(b, 'bob');
    await write(a, 'Before the upgrade: hello from Alice.');
    await post(b, 'Before the upgrade').waitFor();
    expect(await axeBothThemes(a)).toEqual([]);
    expect(await a.locator('h1').count()).toBe(1);
  }, T);

  it('brings tabs, profiles and notifications into both open pages on `molt push 3`, without a reload, drafts kept', async () => {
    for (const p of [a, b]) await p.evaluate(() => ((window as unknown as { marker: string }).marker = 'same page'));
    const before = navigations;
    await a.locator('textarea[name=draft]').fill('A draft written on v2');
    await a.locator('textarea[name=draft]').focus();
    expect(await a.locator('.tabs').count()).toBe(0);
    const result = await operate(server, 'push', '3');
    expect(result.code, result.stderr).toBe(0);
    for (const p of [a, b]) {
      await p.locator('.tabs a[href="/notifications"]').waitFor({ timeout: 20_000 });
      await expect.poll(() => p.locator('.status .version').textContent()).toBe('v3');
      expect(await p.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('same page');
      // the card now names its author and links the profile
      await post(p, 'Before the upgrade').locator('a.who[href="/@alice"]').waitFor();
    }
    expect(navigations).toBe(before);
    expect(await a.locator('textarea[name=draft]').inputValue()).toBe('A draft written on v2');
    expect(await a.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('draft');
    // the panel leads with one plain sentence; the operator's story is behind a disclosure
    await expect.poll(() => a.locator('.upgrade-panel .plain-sentence').textContent()).toMatch(/^(People get profiles|The feed now runs version 3)/);
    expect(await a.locator('.upgrade-panel details.upgrade-details').getAttribute('open')).toBeNull();
    await shot(a, 'v3-1-after-push.png');
    hello = (await post(a, 'Before the upgrade').getAttribute('data-post'))!;
    expect(hello).toMatch(/^p/);
  }, T);

  it('shows a profile, lets Bob follow Alice, and tells only Alice, live', async () => {
    await post(b, 'Before the upgrade').locator('a.who').click();
    await b.locator('.profile h2.name').waitFor();
    expect(new URL(b.url()).pathname).toBe('/@alice');
    expect(await b.locator('h1').textContent()).toBe('alice (@alice)');
    await b.locator('button.follow').click();
    await expect.poll(() => b.locator('button.follow').getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => b.locator('.profile .counts').textContent()).toContain('1 follower');
    await expect.poll(() => a.locator('.tabs .badge').textContent()).toBe('1');
    expect(await b.locator('.tabs .badge').isHidden()).toBe(true);
    await shot(b, 'v3-2-profile.png');
  }, T);

  it('lets Alice edit her profile, and Bob sees the new name', async () => {
    await a.locator('.tabs a', { hasText: 'Profile' }).click();
    await a.locator('button.edit-profile').click();
    await a.locator('input[name=name]').fill('Alice Liddell');
    await a.locator('textarea[name=bio]').fill('Curiouser and curiouser. #wonderland');
    await a.locator('form.profile-form button[type=submit]').click();
    await expect.poll(() => a.locator('.profile h2.name').textContent()).toBe('Alice Liddell');
    await expect.poll(() => b.locator('.profile h2.name').textContent()).toBe('Alice Liddell');
    expect(await axeBothThemes(a)).toEqual([]);
  }, T);

  it('notifies Bob of a mention, live, and lists it on his notifications page', async () => {
    await a.locator('.tabs a', { hasText: 'Everyone' }).click();
    await a.locator('textarea[name=draft]').fill('Hello @bob, welcome to #molt! More at https://example.com/molt.');
    await a.locator('#me form.composer button[type=submit]').click();
    await post(a, 'welcome to').waitFor();
    await expect.poll(() => b.locator('.tabs .badge').textContent()).toBe('1');
    const mention = post(a, 'welcome to');
    expect(await mention.locator('a.mention').getAttribute('href')).toBe('/@bob');
    expect(await mention.locator('a.tag').getAttribute('href')).toBe('/tags/molt');
    expect(await mention.locator('a.link-out').getAttribute('rel')).toContain('noopener');
    await b.locator('.tabs a[href="/notifications"]').click();
    await b.locator('.note', { hasText: 'mentioned you' }).waitFor();
    await shot(b, 'v3-3-notifications.png');
    expect(await axeBothThemes(b)).toEqual([]);
    await expect.poll(() => b.locator('.tabs .badge').isHidden(), { timeout: 10_000 }).toBe(true);
    // Alice's own badge counts only what is hers (Bob's follow)
    expect(await a.locator('.tabs .badge').textContent()).toBe('1');
  }, T);

  it('shows a whole thread on the post page, replies to replies included, live in both pages', async () => {
    const id = (await post(a, 'welcome to').getAttribute('data-post'))!;
    await b.goto(`${server.url}/@alice/${id}`);
    await b.locator('.thread [data-role="focus"]').waitFor();
    await a.locator('.note, #page').first().waitFor();
    await a.goto(`${server.url}/@alice/${id}`);
    await a.locator('.thread [data-role="focus"]').waitFor();
    await b.locator('textarea[name="reply-' + id + '"]').fill('Thanks Alice! Glad to be here.');
    await b.locator('.thread [data-role="focus"] form.composer button[type=submit]').click();
    const bobsReply = a.locator('.thread li.entry', { hasText: 'Glad to be here' });
    await bobsReply.waitFor();
    const replyId = (await bobsReply.getAttribute('data-id'))!;
    await bobsReply.locator('.act.reply').click();
    await a.locator(`textarea[name="reply-${replyId}"]`).fill('A reply to a reply: welcome, Bob.');
    await a.locator(`.thread li[data-id="${replyId}"] form.composer button[type=submit]`).click();
    for (const p of [a, b]) {
      const nested = p.locator('.thread li.entry', { hasText: 'A reply to a reply' });
      await nested.waitFor();
      expect(await nested.evaluate((el) => getComputedStyle(el).getPropertyValue('--depth').trim())).toBe('2');
    }
    await expect.poll(() => b.locator('.tabs .badge').textContent()).toBe('1');
    await shot(b, 'v3-4-thread.png');
    expect(await axeBothThemes(b)).toEqual([]);
  }, T);

  it('marks an edited post and shows its earlier versions', async () => {
    await a.goto(server.url);
    const card = post(a, 'welcome to');
    await card.locator('.act.edit').click();
    const id = (await card.getAttribute('data-post'))!;
    await a.locator(`textarea[name="edit-${id}"]`).fill('Hello @bob, welcome to #molt! (edited: fixed a typo)');
    await a.locator(`li[data-id="${id}"] .extras form.composer button[type=submit]`).click();
    await b.goto(server.url);
    const seen = post(b, 'fixed a typo');
    await seen.locator('button.edited').click();
    await b.locator('.history li').nth(1).waitFor();
    expect(await b.locator('.history li').count()).toBe(2);
    await shot(b, 'v3-5-edited.png');
  }, T);

  it('lists posts by tag on the tag page, and the Following timeline shows whom Bob follows', async () => {
    await post(b, 'fixed a typo').locator('a.tag').click();
    await b.locator('h1', { hasText: '#molt' }).waitFor();
    await post(b, 'fixed a typo').waitFor();
    await shot(b, 'v3-6-tag.png');
    await b.locator('.tabs a[href="/home"]').click();
    await post(b, 'fixed a typo').waitFor();
    await write(a, 'A new post Bob follows live.');
    await post(b, 'A new post Bob follows live').waitFor();
    await shot(b, 'v3-7-following.png');
    expect(await axeBothThemes(b)).toEqual([]);
  }, T);

  it('takes the new pages away cleanly on `molt rollback`, and says what was not kept', async () => {
    await b.goto(`${server.url}/notifications`);
    await b.locator('.notifications').waitFor();
    await b.locator('textarea[name=draft]').count();
    await a.locator('textarea[name=draft]').fill('A draft that outlives the rollback');
    // as an operator does: read the dry run, then accept exactly the losses it showed
    const dry = JSON.parse((await operate(server, 'rollback', '--dry-run')).stdout);
    const result = await operate(server, 'rollback', ...acceptDrops(dry.dropped));
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).dropped).toMatchObject({ follows: 1, edits: 1 });
    for (const p of [a, b]) {
      await expect.poll(() => p.locator('.status .version').textContent(), { timeout: 20_000 }).toBe('v2');
      await expect.poll(() => p.locator('.tabs').count()).toBe(0);
      await post(p, 'fixed a typo').locator('.reactions').waitFor();
    }
    // Bob was on his notifications: v2 has none, so he is back on everyone's posts
    expect(new URL(b.url()).pathname).toBe('/');
    expect(await b.locator('h1').textContent()).toBe('Everyone');
    expect(await a.locator('textarea[name=draft]').inputValue()).toBe('A draft that outlives the rollback');
    await expect.poll(() => a.locator('.upgrade-panel .lost').textContent()).toMatch(/follows/);
    await shot(a, 'v3-8-rolled-back.png');
  }, T);
});

if (!HAVE_CHROMIUM) {
  describe('feed v3 in the browser', () => {
    it.skip(`skipped: ${CHROMIUM} is absent (the e2e suite never downloads a browser)`, () => {});
  });
}
