/** Debian's Chromium for the e2e suites, driven by playwright-core: never a downloaded browser. */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** Print the page's uncaught errors, and count its navigations (a reload would show here). */
export function watch(page: Page, navigated?: () => void): void {
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  if (navigated) page.on('framenavigated', (f) => f === page.mainFrame() && navigated());
}
