/**
 * The upgrade panel from the keyboard, in real Chromium, while a paced online migration sends its
 * progress a few times a second. The panel is built anew at every frame, and a keyboard user on one
 * of its controls (the headline that folds it, "Details for operators", Close) fell to the body at the
 * next frame, or at once on pressing the headline: the next Tab started again at the top of the page.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as v1 from '../../src/feed/v1/index.ts';
import type { FeedVersion } from '../../src/contract.ts';
import { seed } from '../../src/seed.ts';
import type { RunningServer } from '../../src/server.ts';
import { HAVE_CHROMIUM, openPage } from '../support/browser.ts';
import { join, operate } from './pages.ts';

const T = 90_000;

/** What has the keyboard's focus: its data-focus name in the panel, a textarea's name, or its tag. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    return el?.dataset.focus ?? el?.getAttribute('name') ?? el?.tagName ?? null;
  });
const progress = (page: Page) =>
  page
    .locator('.upgrade-panel .progress [role=progressbar]')
    .getAttribute('aria-valuenow', { timeout: 50 })
    .then(Number)
    .catch(() => null);

describe.skipIf(!HAVE_CHROMIUM)('the upgrade panel from the keyboard', () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const seeded = seed(v1 as FeedVersion, { posts: 3000 });
    ({ server, browser, page } = await openPage({ port: 0, operatorPort: 0, token: 'panel-keyboard-suite-token', logLevel: 'silent', kernel: { initialState: seeded.state } }, { reducedMotion: 'reduce' }));
  }, T);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('keeps focus on the control in use while progress frames rebuild the panel, and Close hands it to the composer', async () => {
    await join(page, 'kim');
    const push = operate(server, 'push', '2', '--pace', '600');
    await expect.poll(async () => ((await progress(page)) ?? 0) > 0, { timeout: 30_000, interval: 50 }).toBe(true);

    // open the operator details from the keyboard
    await page.locator('.upgrade-panel summary').focus();
    await page.keyboard.press('Enter');
    expect(await page.locator('.upgrade-panel details.upgrade-details').getAttribute('open')).not.toBeNull();
    // the next progress frames rebuild the panel: focus is still on the summary
    const at = (await progress(page))!;
    await expect.poll(async () => ((await progress(page)) ?? 100) > at, { interval: 50 }).toBe(true);
    expect(await focused(page)).toBe('details');

    // the headline folds the panel: pressed, it keeps the focus, and says it is folded
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    expect(await focused(page)).toBe('title');
    await page.keyboard.press('Enter');
    expect(await page.locator('.upgrade-panel .upgrade-title').getAttribute('aria-expanded')).toBe('false');
    expect(await focused(page)).toBe('title');
    await page.keyboard.press('Enter');
    expect(await page.locator('.upgrade-panel .upgrade-title').getAttribute('aria-expanded')).toBe('true');
    expect(await focused(page)).toBe('title');

    // it is still there when the upgrade commits
    const result = await push;
    expect(result.code, result.stderr).toBe(0);
    await expect.poll(() => page.locator('.upgrade-panel').getAttribute('data-outcome')).toBe('committed');
    expect(await focused(page)).toBe('title');

    // Close: the panel goes, and the keyboard goes on to the composer, not to the top of the page
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('close');
    await page.keyboard.press('Enter');
    expect(await page.locator('.upgrade-panel').count()).toBe(0);
    expect(await focused(page)).toBe('draft');
  }, T);
});
