/**
 * The operator API and the CLI in races with upgrades and with a stop: what the operator is told must
 * be what happened.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../src/release/build.ts';
import { buildRelease } from '../../src/release/build.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { molt } from '../support/client.ts';
import { buildV1 } from '../feed/build.ts';

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
  const start = async (options: Parameters<typeof startServer>[0] = {}) => {
    const server = await startServer({ port: 0, operatorPort: 0, token: TOKEN, logLevel: 'silent', ...options });
    servers.push(server);
    return server;
  };

  /** A push of v2 with --hold, once held; the kernel's cutover() then runs `also` in its own turn. */
  const heldPush = async (server: RunningServer, also: () => unknown) => {
    const v2 = await buildRelease(2);
    const push = post(server, '/upgrade', { release: { code: v2.code, view: v2.view }, hold: true });
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    const kernel = server.kernel;
    const cutover = kernel.cutover.bind(kernel);
    kernel.cutover = () => {
      const done = cutover();
      also();
      return done;
    };
    return { push };
  };

  it('POST /cutover that a stop overtakes (the same turn) is not answered 200: the stop refused the upgrade, E_SHUTTING_DOWN', async () => {
    const server = await start();
    // SIGTERM handled in the very turn after the cut-over was asked for, before the held loop wakes
    let stopping: Promise<void> | null = null;
    const { push } = await heldPush(server, () => (stopping = server.close()));
    const kernel = server.kernel;
    const cut = await post(server, '/cutover');
    const report = await push;
    expect(report).toMatchObject({ status: 409, body: { result: 'refused', error: { code: 'E_SHUTTING_DOWN' } } });
    expect(kernel.version).toBe(1);
    expect(cut).toMatchObject({ status: 409, body: { error: { code: 'E_SHUTTING_DOWN', message: expect.stringContaining('nothing changed') } } });
    await stopping;
  });

  it('POST /cutover overtaken by an abort in the same turn (two operators) is told the abort won, not 200', async () => {
    const server = await start();
    const { push } = await heldPush(server, () => server.kernel.abort());
    const kernel = server.kernel;
    expect(await post(server, '/cutover')).toMatchObject({ status: 409, body: { error: { code: 'E_ABORTED', message: 'the cut-over did not happen: the operator aborted the upgrade before its cut-over; nothing changed' } } });
    expect(await push).toMatchObject({ status: 409, body: { result: 'refused', error: { code: 'E_ABORTED' } } });
    expect(kernel.version).toBe(1);
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

  it('Ctrl-C right after molt push, its request still on the way, aborts that push: it was told E_NOT_HELD and the push committed', async () => {
    const server = await start();
    // between the CLI and the server, a link on which POST /upgrade takes 300 ms (a large release, a tunnel)
    let child: ReturnType<typeof spawn> | null = null;
    const seen: string[] = [];
    const slow = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url}`);
        const forward = () => {
          const up = request(`${server.operatorUrl}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          });
          up.end(Buffer.concat(chunks));
        };
        if (req.url === '/upgrade') {
          setTimeout(forward, 300);
          child!.kill('SIGINT');
        } else forward();
      });
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      child = spawn(process.execPath, ['bin/molt.js', 'push', '2', '--json', '--url', `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, `--token=${TOKEN}`], { cwd: ROOT });
      const out = { stdout: '', stderr: '' };
      child.stdout!.on('data', (d: Buffer) => (out.stdout += d));
      child.stderr!.on('data', (d: Buffer) => (out.stderr += d));
      const code = await new Promise<number | null>((resolve) => child!.on('exit', resolve));
      expect(seen).toEqual(['GET /status', 'POST /upgrade', 'POST /abort']);
      expect(out.stderr).not.toContain('could not abort');
      expect(code, out.stderr).toBe(1);
      expect(JSON.parse(out.stdout)).toMatchObject({ result: 'refused', failedAt: 'begin', error: { code: 'E_ABORTED' } });
      expect(server.kernel.version).toBe(1);
    } finally {
      slow.closeAllConnections();
      slow.close();
    }
  });

  it("POST /abort {upgrade} stops that upgrade only: one that has not arrived yet is refused when it does, another running is left alone, one that ended is E_NOT_HELD", async () => {
    const server = await start();
    const v2 = await buildRelease(2);
    const release = { code: v2.code, view: v2.view };
    // aborted before it arrives
    const early = randomUUID();
    expect(await post(server, '/abort', { upgrade: early })).toEqual({ status: 200, body: { upgrade: early } });
    expect(await post(server, '/upgrade', { release, upgrade: early })).toMatchObject({ status: 409, body: { upgrade: early, result: 'refused', failedAt: 'begin', error: { code: 'E_ABORTED' } } });
    expect(server.kernel.version).toBe(1);
    // an id names one attempt: not again
    expect(await post(server, '/upgrade', { release, upgrade: early })).toMatchObject({ status: 400, body: { error: { code: 'E_BAD_REQUEST', message: expect.stringContaining('has already run') } } });
    expect(await post(server, '/abort', { upgrade: early })).toMatchObject({ status: 409, body: { error: { code: 'E_NOT_HELD', message: `upgrade ${early.slice(0, 8)} has already ended: refused` } } });
    // another's abort leaves a running upgrade alone
    const mine = randomUUID();
    const held = post(server, '/upgrade', { release, hold: true, upgrade: mine });
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    expect(server.kernel.status().upgrade?.upgrade).toBe(mine);
    expect((await post(server, '/abort', { upgrade: randomUUID() })).status).toBe(200);
    expect(server.kernel.status().upgrade?.held).toBe(true);
    for (const bad of ['nope', 42, mine.toUpperCase()]) expect((await post(server, '/abort', { upgrade: bad })).body.error.code).toBe('E_BAD_REQUEST');
    expect((await post(server, '/upgrade', { release, upgrade: 'x' })).status).toBe(400);
    expect(await post(server, '/abort', { upgrade: mine })).toEqual({ status: 200, body: { upgrade: mine } });
    expect(await held).toMatchObject({ status: 409, body: { upgrade: mine, error: { code: 'E_ABORTED' } } });
    expect(server.kernel.version).toBe(1);
  });

  it('refuses a field a route does not read (a misspelt dry_run ran the real thing), and changes nothing', async () => {
    const server = await start();
    const v2 = await buildRelease(2);
    const release = { code: v2.code, view: v2.view };
    const history = server.kernel.status().history.length;
    for (const [route, body, said] of [
      ['/upgrade', { release, dry_run: true }, 'POST /upgrade takes only release, dryRun, hold, pace, expect, force, acceptDrops, upgrade, not "dry_run"; nothing was done'],
      ['/upgrade', { release, replay: true }, 'not "replay"'],
      ['/upgrade', { release, dryrun: true, accept_drops: { likes: 1 } }, 'not "dryrun", "accept_drops"'],
      ['/upgrade', { release: { ...release, version: 2 }, dryRun: true }, 'a release is {code, view?, hash?}, not "version"; nothing was done'],
      ['/rollback', { dryrun: true }, 'POST /rollback takes only dryRun, hold, pace, expect, force, acceptDrops, replay, upgrade, not "dryrun"'],
      ['/cutover', { upgrade: randomUUID() }, 'POST /cutover takes no fields, not "upgrade"'],
      // as molt refuses --dry-run --hold: it held nothing, and a /cutover for it found nothing held
      ['/upgrade', { release, dryRun: true, hold: true }, 'dryRun and hold do not go together'],
      ['/rollback', { dryRun: true, hold: true }, 'dryRun and hold do not go together'],
      ['/abort', { id: randomUUID() }, 'POST /abort takes only upgrade, not "id"'],
      ['/permanent', { force: true }, 'POST /permanent takes no fields, not "force"'],
    ] as const) {
      const r = await post(server, route, body);
      expect(r, route).toEqual({ status: 400, body: { error: { code: 'E_BAD_REQUEST', message: expect.stringContaining(said) } } });
    }
    expect(server.kernel.version).toBe(1);
    expect(server.kernel.status().history).toHaveLength(history);
    // what the routes do read still works, an empty object included; an unknown path is still 404
    expect((await post(server, '/upgrade', { release, dryRun: true })).status).toBe(200);
    expect((await post(server, '/cutover', {})).body.error.code).toBe('E_NOT_HELD');
    expect((await post(server, '/nowhere', { x: 1 })).status).toBe(404);
  });

  it('an early or a needless /cutover is told what the upgrade is doing, not to push with --hold', async () => {
    const server = await start({ kernel: { initialState: buildV1(400, 20) } });
    const v2 = await buildRelease(2);
    const release = { code: v2.code, view: v2.view };
    const migrating = () => expect.poll(() => server.kernel.status().upgrade?.phase, { timeout: 30_000 }).toBe('migrate');
    const held = post(server, '/upgrade', { release, hold: true, pace: { perSecond: 50 } });
    await migrating();
    expect(await post(server, '/cutover')).toMatchObject({ status: 409, body: { error: { code: 'E_NOT_HELD', message: expect.stringMatching(/^upgrade [0-9a-f]{8} is not held yet \(migrate\): it waits for molt cutover once it has migrated and caught up/) } } });
    expect((await post(server, '/abort')).status).toBe(200);
    expect(await held).toMatchObject({ status: 409, body: { error: { code: 'E_ABORTED' } } });
    const unheld = post(server, '/upgrade', { release, pace: { perSecond: 50 } });
    await migrating();
    expect(await post(server, '/cutover')).toMatchObject({ status: 409, body: { error: { code: 'E_NOT_HELD', message: expect.stringMatching(/^upgrade [0-9a-f]{8} was not pushed with --hold: it cuts over on its own/) } } });
    expect((await post(server, '/abort')).status).toBe(200);
    // aborted, and asked to cut over before it ends: the abort came first
    expect(await post(server, '/cutover')).toMatchObject({ status: 409, body: { error: { code: 'E_NOT_HELD' } } });
    expect(await unheld).toMatchObject({ status: 409, body: { error: { code: 'E_ABORTED' } } });
    expect(server.kernel.version).toBe(1);

    // asked twice, the second while the first's cut-over runs (a write just before it gives it a round to
    // catch up): the second waits for the same cut-over, and both are told it committed
    const kernel = server.kernel;
    const third = post(server, '/upgrade', { release, hold: true });
    await expect.poll(() => kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    const writer = kernel.connect({ welcome() {}, event() {}, upgrade() {} });
    expect(await kernel.dispatch(writer, { type: 'join', handle: 'late_writer' })).toMatchObject({ ok: true });
    const first = kernel.cutoverAndWait();
    while (!kernel.cuttingOver) await new Promise((r) => setImmediate(r));
    const again = kernel.cutoverAndWait();
    expect((await first).result).toBe('committed');
    expect(await again).toBe(await first);
    expect(await third).toMatchObject({ status: 200, body: { result: 'committed' } });
    expect(kernel.version).toBe(2);
  });

  it('molt cutover --dry-run (or abort --dry-run, status --hold, push --replay) is bad usage: the option was ignored and the cut-over, or the abort, was real', async () => {
    const server = await start();
    const cli = (args: string[]) => molt([...args, '--url', server.operatorUrl, `--token=${TOKEN}`]);
    const push = cli(['push', '2', '--hold']);
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    const calls: [string[], string][] = [
      [['cutover', '--dry-run'], "molt: --dry-run: not an option of molt cutover (only push and rollback take it): nothing was done\n"],
      [['abort', '--dry-run'], "molt: --dry-run: not an option of molt abort (only push and rollback take it): nothing was done\n"],
      [['permanent', '--pace', '5', '--hold'], "molt: --hold, --pace: not an option of molt permanent (only push and rollback take them): nothing was done\n"],
      [['status', '--accept-drops', 'likes=1'], "molt: --accept-drops: not an option of molt status (only push and rollback take it): nothing was done\n"],
      [['push', '2', '--replay'], "molt: --replay: not an option of molt push: nothing was done\n"],
    ];
    const results = await Promise.all(calls.map(([args]) => cli(args)));
    calls.forEach(([args, said], i) => {
      expect(results[i]!.code, args.join(' ')).toBe(2);
      expect(results[i]!.stderr.startsWith(said), results[i]!.stderr).toBe(true);
    });
    // still held, on v1: nothing was cut over or aborted
    expect(server.kernel.status().upgrade?.held).toBe(true);
    expect(server.kernel.version).toBe(1);
    expect((await cli(['abort'])).code).toBe(0);
    expect((await push).code).toBe(1);
  });

  it('SIGTERM to molt push (timeout, a service manager) aborts the push as Ctrl-C does: it killed molt and left the upgrade held', async () => {
    const server = await start();
    const child = spawn(process.execPath, ['bin/molt.js', 'push', '2', '--hold', '--json', '--url', server.operatorUrl, `--token=${TOKEN}`], { cwd: ROOT });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d));
    child.stderr.on('data', (d: Buffer) => (out.stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    child.kill('SIGTERM');
    expect(await exited, out.stderr).toBe(1);
    expect(out.stderr).toContain('molt: aborting the upgrade (SIGTERM again to stop waiting for the report)');
    expect(JSON.parse(out.stdout)).toMatchObject({ result: 'refused', error: { code: 'E_ABORTED' } });
    expect(server.kernel.status().upgrade).toBeNull();
    expect(server.kernel.version).toBe(1);
  });
});
