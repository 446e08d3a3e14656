/**
 * A molt server for the online benchmark, in a process of its own (its CPU is measured apart from the
 * clients'): a feed of BENCH_POSTS posts built through the feed's own code (src/seed.ts, the same path
 * as `npm run demo -- --posts N`), the rehearsal warmed, then one JSON line on stdout with where it
 * listens. Limits come from the environment like `npm start`'s (the bench raises the per-client budgets).
 */
import { seed } from '../src/seed.ts';
import * as v1 from '../src/feed/v1/index.ts';
import { serverOptionsFromEnv } from '../src/env.ts';
import { startServer } from '../src/server.ts';

const posts = Number(process.env['BENCH_POSTS'] ?? 10_000);
const t0 = performance.now();
const seeded = seed(v1, { posts, now: 1_790_000_000_000 });
const seedMs = performance.now() - t0;
const server = await startServer({
  ...serverOptionsFromEnv(process.env),
  port: 0,
  operatorPort: 0,
  host: '127.0.0.1',
  token: 'bench-operator-token-0123456789',
  logLevel: 'silent',
  kernel: { initialState: seeded.state },
});
await server.kernel.warm();
// what seeding left behind goes now, not in the middle of the steady-state measurement
(globalThis as { gc?: () => void }).gc?.();
process.stdout.write(`${JSON.stringify({ url: server.url, wsUrl: server.wsUrl, operatorUrl: server.operatorUrl, token: server.token, pid: process.pid, posts: seeded.posts, users: seeded.users, seedMs: Math.round(seedMs) })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
