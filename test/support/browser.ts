/** Debian's Chromium for the e2e suites, driven by playwright-core: never a downloaded browser. */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.ts';

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

/** A server started with `options`, a browser, and a page of it (in a context made with `context`), watched and opened at the server. */
export async function openPage(options: ServerOptions, context: BrowserContextOptions = {}): Promise<{ server: RunningServer; browser: Browser; page: Page }> {
  const server = await startServer(options);
  let browser: Browser | undefined;
  try {
    browser = await launch();
    const page = await (await browser.newContext(context)).newPage();
    watch(page);
    await page.goto(server.url);
    return { server, browser, page };
  } catch (err) {
    // the suite's afterAll never learns of them: closed here
    await browser?.close();
    await server.close();
    throw err;
  }
}
