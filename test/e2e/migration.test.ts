/**
 * Two people watch an online migration in real Chromium. A server seeded with 3,000 posts (built by
 * feed v1's own handle(), src/seed.ts); the operator CLI as a child process. `molt push 2 --hold`
 * shows as waiting and `molt abort` as nothing changed; `molt push 2 --pace 1000` takes a few
 * seconds: the progress bar rises, a post and a like sent mid-migration arrive (once) and survive,
 * then the committed state marks the posts the migration rewrote, and the draft is still there.
 * Then `molt push 3 --hold` waits for `molt cutover`, and a reply being typed keeps its focus across
 * `molt rollback`. A screenshot mid-migration goes to
 * test-artifacts/.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as v1 from '../../src/feed/v1/index.ts';
import type { FeedVersion } from '../../src/contract.ts';
import { seed } from '../../src/seed.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import type { UpgradeFrame } from '../../src/transport/protocol.ts';
import { TestClient } from '../support/client.ts';
import { abs } from '../support/releases.ts';
import { CHROMIUM, HAVE_CHROMIUM, launch, watch } from '../support/browser.ts';
import { join, operate, post } from './pages.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = path.join(ROOT, 'test-artifacts');
const T = 60_000;
const POSTS = 3000;
const DRAFT = 'A draft I am writing while the feed migrates under me';

const panel = (page: Page) => page.locator('.upgrade-panel');
const headline = (page: Page) => page.locator('.upgrade-panel .upgrade-title strong').textContent();
const version = (page: Page) => page.locator('.status .version').textContent();
const bar = (page: Page) => page.locator('.upgrade-panel .progress [role=progressbar]');
/** The Details table's counts of a kind: [before, after]. */
/** The timeline's text, each post's age ("now", "1m") left out: a slow run passes a minute. */
const timeline = (page: Page) =>
  page.locator('#timeline').evaluate((el) => {
    const copy = el.cloneNode(true) as HTMLElement;
    for (const t of copy.querySelectorAll('time')) t.remove();
    return copy.textContent;
  });
const counts = (page: Page, kind: string) => page.locator('.upgrade-panel table.census tbody tr', { has: page.locator(`th:text-is("${kind}")`) }).locator('td').allTextContents();

/** The progress bar's value, or null when none shows. */
async function progress(page: Page): Promise<number | null> {
  const v = await bar(page).getAttribute('aria-valuenow', { timeout: 50 }).catch(() => null);
  return v === null ? null : Number(v);
}

describe.skipIf(!HAVE_CHROMIUM)('watching an online migration', () => {
  let server: RunningServer;
  let browser: Browser;
  let ctxA: BrowserContext;
  let ctxB: BrowserContext;
  let a: Page;
  let b: Page;
  /** A socket of our own: the upgrade frames every page gets, to compare with what pages show. */
  let watcher: TestClient;
  const upgrades = (): UpgradeFrame[] => watcher.frames.filter((f): f is UpgradeFrame => f.t === 'upgrade');

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const seeded = seed(v1 as FeedVersion, { posts: POSTS });
    server = await startServer({ port: 0, operatorPort: 0, token: 'test-token-for-the-migration-suite', logLevel: 'silent', kernel: { initialState: seeded.state } });
    watcher = await TestClient.open(server.wsUrl);
    browser = await launch();
    // reduced motion: the rewritten posts' mark is then a steady outline, not a fading animation,
    // so the screenshot after the commit shows it
    ctxA = await browser.newContext({ viewport: { width: 1180, height: 900 }, reducedMotion: 'reduce' });
    ctxB = await browser.newContext({ viewport: { width: 1180, height: 900 }, reducedMotion: 'reduce' });
    a = await ctxA.newPage();
    b = await ctxB.newPage();
    for (const p of [a, b]) watch(p);
    await Promise.all([a.goto(server.url), b.goto(server.url)]);
  }, T);

  afterAll(async () => {
    watcher?.close();
    await browser?.close();
    await server?.close();
  });

  it('opens two pages on a feed of 3,000 posts, one with a draft', async () => {
    await join(a, 'alice');
    await join(b, 'bob');
    for (const p of [a, b]) {
      await expect.poll(() => p.locator('#page article.post').count()).toBe(20);
      expect(await version(p)).toBe('v1');
    }
    await a.locator('textarea[name=draft]').fill(DRAFT);
  }, T);

  it('shows `molt push 2 --hold` as waiting, and `molt abort` as nothing changed', async () => {
    const before = await timeline(a);
    const push = operate(server, 'push', '2', '--hold');
    for (const p of [a, b]) {
      await expect.poll(() => headline(p), { timeout: 15_000 }).toBe('v2 is ready, waiting for the switch');
      expect(await p.locator('.upgrade-panel .progress-note').textContent()).toContain('ready: waiting for the operator to switch');
      expect(await version(p)).toBe('v1');
      // the counts before are known since the migration began, not only after a commit
      expect(await counts(p, 'posts')).toEqual([String(POSTS), String(POSTS)]);
    }
    await b.screenshot({ animations: 'disabled', path: path.join(SHOTS, 'migration-1-held.png') });
    // a page opened (or reloaded) while the upgrade is held shows it too: the held frame came before it
    // did, and it showed no panel until the switch
    const late = await ctxB.newPage();
    watch(late);
    await late.goto(server.url);
    await expect.poll(() => headline(late)).toBe('v2 is ready, waiting for the switch');
    expect(await late.locator('.upgrade-panel .progress-note').textContent()).toContain('ready: waiting for the operator to switch');
    expect(await counts(late, 'posts')).toEqual([String(POSTS), String(POSTS)]);
    const abort = await operate(server, 'abort');
    expect(abort.code, abort.stderr).toBe(0);
    const refused = await push;
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ result: 'refused', error: { code: 'E_ABORTED' } });
    for (const p of [a, b]) {
      await expect.poll(() => panel(p).getAttribute('data-outcome')).toBe('refused');
      expect(await headline(p)).toBe('Upgrade to v2 called off'); // the operator's abort, not a failure
      expect(await p.locator('.upgrade-panel .refusal-note').textContent()).toBe('Nothing changed: the feed keeps running v1.');
      expect(await p.locator('.upgrade-panel .refusal code').textContent()).toBe('E_ABORTED');
      // the counts the attempt built are shown as thrown away, not as the feed's
      expect(await p.locator('.upgrade-panel table.census thead').textContent()).toContain('after (not kept)');
      expect(await counts(p, 'posts')).toEqual([String(POSTS), String(POSTS)]);
      expect(await version(p)).toBe('v1');
    }
    expect(await timeline(a)).toBe(before);
    expect(await a.locator('textarea[name=draft]').inputValue()).toBe(DRAFT);
    await expect.poll(() => headline(late)).toBe('Upgrade to v2 called off');
    await late.close();
  }, T);

  it('shows a release that does not load as refused before it loaded, going nowhere (v1 → ?)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-unloadable-'));
    try {
      writeFileSync(path.join(dir, 'index.ts'), `export * from ${abs('src/feed/v2/index.ts')};\nthrow new Error('bad top level');\n`);
      writeFileSync(path.join(dir, 'migrations.ts'), `export { migrations } from ${abs('migrations/index.ts')};\n`);
      const refused = await operate(server, 'push', dir);
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.stdout)).toMatchObject({ result: 'refused', failedAt: 'begin', error: { code: 'E_RELEASE_LOAD' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const p of [a, b]) {
      await expect.poll(() => headline(p)).toBe('Update refused before its release loaded');
      expect(await p.locator('.upgrade-panel .upgrade-title small').textContent()).toMatch(/^v1 → \? · /);
      expect(await p.locator('.upgrade-panel .refusal code').textContent()).toBe('E_RELEASE_LOAD');
      expect(await version(p)).toBe('v1');
    }
    expect(await a.locator('textarea[name=draft]').inputValue()).toBe(DRAFT);
  }, T);

  it('shows `molt push 2 --pace 1000` as it goes: progress rising, the feed live, then the rewritten posts marked', async () => {
    const topText = (await a.locator('#page article.post .post-text').first().textContent())!;
    const top = post(a, topText);
    const likesBefore = Number(await top.locator('.act.like .count').textContent());
    const started = Date.now();
    const push = operate(server, 'push', '2', '--pace', '1000');

    // The bar rises: read it at least twice, each time further along.
    const seen: number[] = [];
    await expect.poll(async () => ((await progress(a)) ?? 0) > 0, { timeout: 15_000, interval: 50 }).toBe(true);
    seen.push((await progress(a))!);
    const firstAt = Date.now() - started;
    await expect.poll(async () => ((await progress(a)) ?? 0) > seen[0]!, { timeout: 10_000, interval: 50 }).toBe(true);
    seen.push((await progress(a))!);
    expect(seen[1]).toBeGreaterThan(seen[0]!);
    expect(seen[1]).toBeLessThan(100);
    expect(await progress(b)).not.toBeNull();
    await a.screenshot({ animations: 'disabled', path: path.join(SHOTS, 'migration-2-in-progress.png') });
    const note = (await a.locator('.upgrade-panel .progress-note').textContent())!;
    expect(note).toMatch(/^\d+% · [\d,]+ of 3,0\d\d · [\d,]+\/s/);

    // Mid-migration the feed serves as before: a post arrives in the other page once, a like lands.
    const mid = 'Posted while the feed migrates: does it arrive?';
    await b.locator('textarea[name=draft]').fill(mid);
    await b.locator('#me form.composer button[type=submit]').click();
    await post(a, mid).waitFor({ timeout: 5_000 });
    expect(await post(a, mid).count()).toBe(1);
    await post(b, topText).locator('.act.like').click();
    await expect.poll(() => top.locator('.act.like .count').textContent()).toBe(String(likesBefore + 1));
    expect(upgrades().at(-1)!.phase).toBe('migrate'); // still migrating while all that happened
    seen.push((await progress(a))!);

    const result = await push;
    const tookMs = Date.now() - started;
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ result: 'committed', to: { version: 2 }, online: true });
    const committed = upgrades().find((f) => f.phase === 'committed' && f.upgrade === report.upgrade)!;
    const changed = new Set((committed.detail as { changed: { posts: string[] } }).changed.posts);
    expect(changed.size).toBeGreaterThan(0);

    await expect.poll(() => version(a)).toBe('v2');
    await a.locator('#page article.post.migrated').first().waitFor();
    await a.screenshot({ path: path.join(SHOTS, 'migration-3-committed.png') });
    for (const p of [a, b]) {
      await expect.poll(() => version(p)).toBe('v2');
      await expect.poll(() => headline(p)).toBe('Upgraded to v2');
      // The migration's work, marked: exactly the cards on screen whose posts it rewrote.
      const cards = await p.locator('#page .entry').evaluateAll((els) => els.map((el) => ({ id: (el as HTMLElement).dataset.id!, marked: !!el.querySelector('article.post.migrated') })));
      const marked = cards.filter((c) => c.marked).map((c) => c.id);
      expect(marked.length).toBeGreaterThan(0);
      expect(marked).toEqual(cards.filter((c) => changed.has(c.id)).map((c) => c.id));
      // the post and the like sent mid-migration made it through: once, and as a ❤️
      expect(await post(p, mid).count()).toBe(1);
      expect(await post(p, topText).locator('.chip[data-emoji="❤️"] .count').textContent()).toBe(String(likesBefore + 1));
    }
    expect(await a.locator('textarea[name=draft]').inputValue()).toBe(DRAFT);
    console.log(`paced push: bar read at ${seen.join(' -> ')} %, first value ${firstAt} ms after the push began; committed after ${tookMs} ms (pause ${report.pauseMs} ms, ${report.rounds} catch-up rounds)`);
  }, T);

  it('shows `molt push 3 --hold` waiting until `molt cutover`', async () => {
    const push = operate(server, 'push', '3', '--hold');
    for (const p of [a, b]) await expect.poll(() => headline(p), { timeout: 15_000 }).toBe('v3 is ready, waiting for the switch');
    // held means held: nothing switches while the operator waits
    await new Promise((r) => setTimeout(r, 500));
    for (const p of [a, b]) expect(await version(p)).toBe('v2');
    const cut = await operate(server, 'cutover');
    expect(cut.code, cut.stderr).toBe(0);
    const result = await push;
    expect(result.code, result.stderr).toBe(0);
    for (const p of [a, b]) {
      await expect.poll(() => version(p)).toBe('v3');
      await expect.poll(() => headline(p)).toBe('Upgraded to v3');
      expect(await p.locator('.upgrade-panel .step[data-phase="committed"]').getAttribute('data-state')).toBe('done');
    }
    expect(await a.locator('textarea[name=draft]').inputValue()).toBe(DRAFT);
  }, T);

  it('keeps a reply being written, and the typing in it, across `molt rollback`', async () => {
    const card = b.locator('#page article.post').first();
    await card.locator('.act.reply').click();
    const reply = b.locator('textarea[name^="reply-"]');
    await reply.fill('Half a repl');
    await reply.focus();
    const result = await operate(server, 'rollback');
    expect(result.code, result.stderr).toBe(0);
    await expect.poll(() => version(b)).toBe('v2');
    // the new version's page took the composer in: still focused, the caret where it was
    expect(await b.evaluate(() => document.activeElement?.getAttribute('name'))).toMatch(/^reply-/);
    await b.keyboard.type('y');
    expect(await reply.inputValue()).toBe('Half a reply');
  }, T);
});

if (!HAVE_CHROMIUM) {
  describe('watching an online migration', () => {
    it.skip(`skipped: ${CHROMIUM} is absent (the e2e suite never downloads a browser)`, () => {});
  });
}
