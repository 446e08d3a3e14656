/**
 * The operator API and the CLI in races with upgrades and with a stop: what the operator is told must
 * be what happened.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildRelease } from '../../src/release/build.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { molt } from '../support/client.ts';

const TOKEN = 'operator-races-token-0123456789';

/** POST `route` with a JSON body to the operator API: status and body. */
async function post(server: RunningServer, route: string, body: unknown = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.operatorUrl}${route}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe('the operator told what happened', { timeout: 90_000 }, () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const start = async () => {
    const server = await startServer({ port: 0, operatorPort: 0, token: TOKEN, logLevel: 'silent' });
    servers.push(server);
    return server;
  };

  it('POST /cutover that a stop overtakes (the same turn) is not answered 200: the stop refused the upgrade, E_SHUTTING_DOWN', async () => {
    const server = await start();
    const v2 = await buildRelease(2);
    const push = post(server, '/upgrade', { release: { code: v2.code, view: v2.view }, hold: true });
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    // SIGTERM handled in the very turn after the cut-over was asked for, before the held loop wakes
    const kernel = server.kernel;
    const cutover = kernel.cutover.bind(kernel);
    let stopping: Promise<void> | null = null;
    kernel.cutover = () => {
      const done = cutover();
      stopping = server.close();
      return done;
    };
    const cut = await post(server, '/cutover');
    const report = await push;
    expect(report).toMatchObject({ status: 409, body: { result: 'refused', error: { code: 'E_SHUTTING_DOWN' } } });
    expect(kernel.version).toBe(1);
    expect(cut).toMatchObject({ status: 409, body: { error: { code: 'E_SHUTTING_DOWN', message: expect.stringContaining('nothing changed') } } });
    await stopping;
  });

  it('molt cutover says committed only once it is, and exits 1 naming the refusal when a stop came first', async () => {
    const server = await start();
    const cli = (args: string[]) => molt([...args, '--url', server.operatorUrl, `--token=${TOKEN}`]);
    const push = cli(['push', '2', '--hold']);
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    const cut = await cli(['cutover']);
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stdout).toMatch(/^upgrade [0-9a-f]{8} cut over: committed, now v2 \([0-9a-f]{12}\), commands waited [\d.]+ ms; the push command prints its report\n$/);
    expect(server.kernel.version).toBe(2);
    expect((await push).code).toBe(0);

    const back = cli(['rollback', '--hold', '--json']);
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    const kernel = server.kernel;
    const cutover = kernel.cutover.bind(kernel);
    kernel.cutover = () => {
      const done = cutover();
      void server.close();
      return done;
    };
    const refused = await cli(['cutover', '--json']);
    expect(refused.code, refused.stderr).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual({ error: { code: 'E_SHUTTING_DOWN', message: expect.stringMatching(/^the cut-over did not happen: the server is stopping before its cut-over; nothing changed$/) } });
    expect(JSON.parse((await back).stdout)).toMatchObject({ result: 'refused', error: { code: 'E_SHUTTING_DOWN' } });
    expect(kernel.version).toBe(2);
  });
});
