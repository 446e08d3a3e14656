/**
 * Builds the browser client in memory: the HTTP server calls buildClient() once at boot and serves the
 * map it returns. Nothing is written to disk.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface Asset {
  type: string;
  body: Buffer | string;
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

/** URL path (a fastify route: `*` matches the rest) -> content for the page, its script and its stylesheet. */
export async function buildClient(): Promise<Map<string, Asset>> {
  const [html, css, bundle] = await Promise.all([
    readFile(here('./index.html'), 'utf8'),
    readFile(here('./styles.css'), 'utf8'),
    build({
      entryPoints: [here('./src/main.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      minify: true,
      sourcemap: 'linked',
      outfile: here('./dist/app.js'),
      legalComments: 'none',
      logLevel: 'silent',
    }),
  ]);
  const js = bundle.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = bundle.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (!js || !map) throw new Error('client build produced no output');
  return new Map<string, Asset>([
    ['/', { type: 'text/html; charset=utf-8', body: html }],
    ['/index.html', { type: 'text/html; charset=utf-8', body: html }],
    // the page's own addresses (client/src/router.ts): the shell routes them once loaded
    ['/home', { type: 'text/html; charset=utf-8', body: html }],
    ['/notifications', { type: 'text/html; charset=utf-8', body: html }],
    ['/tags/*', { type: 'text/html; charset=utf-8', body: html }],
    ['/@*', { type: 'text/html; charset=utf-8', body: html }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(js.contents) }],
    ['/app.js.map', { type: 'application/json; charset=utf-8', body: Buffer.from(map.contents) }],
    ['/styles.css', { type: 'text/css; charset=utf-8', body: css }],
  ]);
}
