/**
 * Builds the browser client in memory: the HTTP server calls buildClient() once at boot and serves the
 * map it returns. Nothing is written to disk.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface Asset {
  type: string;
  body: Buffer | string;
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

/** URL path (a fastify route: `*` matches the rest) -> content for the page, its script, its stylesheet and
 *  the view probe's worker (client/src/view-probe.ts: same origin, so a CSP needs no blob: for it). */
export async function buildClient(): Promise<Map<string, Asset>> {
  const [html, css, bundle] = await Promise.all([
    readFile(here('./index.html'), 'utf8'),
    readFile(here('./styles.css'), 'utf8'),
    build({
      entryPoints: { app: here('./src/main.ts'), 'view-probe': here('./src/view-probe.ts') },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      minify: true,
      sourcemap: 'linked',
      outdir: here('./dist'),
      legalComments: 'none',
      logLevel: 'silent',
    }),
  ]);
  const out = (name: string) => {
    const file = bundle.outputFiles.find((f) => path.basename(f.path) === name);
    if (!file) throw new Error(`client build produced no ${name}`);
    return Buffer.from(file.contents);
  };
  return new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: html }],
    ['/index.html', { type: 'text/html; charset=utf-8', body: html }],
    // the page's own addresses (client/src/router.ts): the shell routes them once loaded
    ['/home', { type: 'text/html; charset=utf-8', body: html }],
    ['/notifications', { type: 'text/html; charset=utf-8', body: html }],
    ['/tags/*', { type: 'text/html; charset=utf-8', body: html }],
    ['/@*', { type: 'text/html; charset=utf-8', body: html }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: out('app.js') }],
    ['/app.js.map', { type: 'application/json; charset=utf-8', body: out('app.js.map') }],
    ['/view-probe.js', { type: 'text/javascript; charset=utf-8', body: out('view-probe.js') }],
    ['/view-probe.js.map', { type: 'application/json; charset=utf-8', body: out('view-probe.js.map') }],
    ['/styles.css', { type: 'text/css; charset=utf-8', body: css }],
  ]);
}
