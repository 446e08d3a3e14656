/** The operator CLI and API meet tokens and typos: usage errors, never a stack trace. */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { ensureTokenFile } from '../../src/transport/token.ts';
import { molt } from '../support/client.ts';
import { abs } from '../support/releases.ts';
import { ROOT } from '../../src/release/build.ts';

const DASH_TOKEN = '-starts-with-a-dash-0123456789';
const STACK = /\n\s+at /;

describe('the CLI', { timeout: 30_000 }, () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, operatorPort: 0, token: DASH_TOKEN, logLevel: 'silent' });
  });
  afterAll(async () => server.close());

  it('answers a mistyped flag with the usage and status 2, no stack trace', async () => {
    const r = await molt(['push', '2', '--dryrun', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^molt: unknown option '--dryrun'\n/);
    expect(r.stderr).toContain('molt push <version|folder>');
    expect(r.stderr).toContain('--dry-run ');
    expect(r.stderr).not.toMatch(STACK);
    expect(server.kernel.version).toBe(1);
  });

  it('refuses what it would ignore with the usage and status 2: an argument to status, --dry-run with --hold', async () => {
    const history = server.kernel.status().history.length;
    const status = await molt(['status', 'extra', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
    expect(status.code).toBe(2);
    expect(status.stdout).toBe('');
    expect(status.stderr).toMatch(/^molt: status takes no arguments\n\nmolt: operate a running molt server\n/);
    for (const command of [['push', '2'], ['rollback']]) {
      const r = await molt([...command, '--dry-run', '--hold', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^molt: --dry-run and --hold do not go together: a dry run ends before the cut-over, so it never waits for one\n\nmolt: operate a running molt server\n/);
    }
    expect(server.kernel.status().history).toHaveLength(history); // nothing was asked of the server
  }, 60_000);

  it('takes a token that starts with a dash as --token=VALUE, and says so when it is given as --token VALUE', async () => {
    const ok = await molt(['status', '--json', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ version: 1 });
    const bad = await molt(['status', '--url', server.operatorUrl, '--token', DASH_TOKEN]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^molt: --token needs a value; a value that starts with '-' is written --token=VALUE\n/);
    expect(bad.stderr).not.toMatch(STACK);
  });

  it('shows what release code wrote as text, never as terminal control: an escape in an error cannot paint a fake result', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-ansi-'));
    try {
      const folder = path.join(dir, 'v2');
      mkdirSync(folder);
      writeFileSync(path.join(folder, 'index.ts'), `export * from ${abs('src/feed/v2/index.ts')};\n`);
      writeFileSync(path.join(folder, 'migrations.ts'), `import { v1ToV2 } from ${abs('migrations/001-v1-to-v2.ts')};
export const migrations = [{ ...v1ToV2, up: { ...v1ToV2.up, finish: () => { throw new Error('\\x1b[2J\\x1b[H\\x1b[32mcommitted: all good\\nresult     committed'); } } }];\n`);
      const r = await molt(['push', folder, '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toContain('REFUSED: nothing was changed, still v1');
      expect(r.stdout).not.toContain('\x1b');
      expect(r.stdout).toContain('\\u001b[2J\\u001b[H\\u001b[32mcommitted: all good\\u000aresult     committed');
      expect(r.stdout).not.toMatch(/^result +committed/m);
      const status = await molt(['status', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(status.stdout).toContain('refused');
      expect(status.stdout).not.toContain('\x1b');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(server.kernel.version).toBe(1);
  }, 60_000);

  it("prints what an upgrade cost the feed: how late its loop ran, the collector's pauses and the CPU", async () => {
    const r = await molt(['push', '2', '--dry-run', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}loop {7}the feed's event loop ran late by [\d.]+ ms at p99, [\d.]+ ms at most$/m);
    expect(r.stdout).toMatch(/^ {2}gc {9}V8's collector paused the feed \d+ times?, [\d.]+ ms in all, [\d.]+ ms at most \(\d+ full collections?\)$/m);
    expect(r.stdout).toMatch(/^ {2}cpu {8}[\d.]+ ms here \(with the commands served meanwhile\), [\d.]+ ms in the rehearsal$/m);
    expect(server.kernel.version).toBe(1);
  }, 60_000);

  it('shows a release that did not load as going nowhere (v1 -> ?), in the report and in the history, not as "v1 -> v1" with the running hash', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-unloaded-'));
    try {
      const folder = path.join(dir, 'v2');
      mkdirSync(folder);
      writeFileSync(path.join(folder, 'index.ts'), `export * from ${abs('src/feed/v2/index.ts')};\nthrow new Error('bad top level');\n`);
      writeFileSync(path.join(folder, 'migrations.ts'), `export { migrations } from ${abs('migrations/index.ts')};\n`);
      const r = await molt(['push', folder, '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const running = server.kernel.release;
      expect(r.stdout).toMatch(/^molt push: v1 -> \?  REFUSED: nothing was changed, still v1\n  release    not loaded\n/);
      expect(r.stdout).toMatch(/error +E_RELEASE_LOAD: release [0-9a-f]{12} failed to load: Error: bad top level/);
      // nothing it did not do: no steps, no "online", and the running release only as what was running
      expect(r.stdout).not.toMatch(/steps|online|would drop/);
      expect(r.stdout.split(running.slice(0, 12)).length).toBe(2);
      const status = await molt(['status', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(status.stdout).toMatch(/push +v1 -> \?  \(not loaded\)  refused .*E_RELEASE_LOAD/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(server.kernel.version).toBe(1);
  }, 60_000);

  it('exits 1, as for a refused upgrade, when the server refuses what was asked (nothing waits for a cut-over), and says so as JSON with --json', async () => {
    for (const command of ['cutover', 'abort']) {
      const r = await molt([command, '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^molt: POST /${command} refused: E_NOT_HELD: `));
      const j = await molt([command, '--json', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(j.code).toBe(1);
      expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: 'E_NOT_HELD', message: expect.any(String) } });
    }
    // bad usage stays 2
    expect((await molt(['cutover', 'now', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`])).code).toBe(2);
  });

  it('with --json, stdout is JSON whatever goes wrong: bad usage, a bad token, no server, a release that does not build', async () => {
    const cases: [string[], string, RegExp][] = [
      [['push', '2', '--pace', 'abc', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`], 'E_USAGE', /--pace/],
      [['status', '--bogus', '--url', server.operatorUrl], 'E_USAGE', /^unknown option '--bogus'$/],
      [['status', '--url', server.operatorUrl, '--token=wrong-token-0123456789'], 'E_UNAUTHORIZED', /refused the token \(401\)/],
      [['status', '--url', 'http://127.0.0.1:9', `--token=${DASH_TOKEN}`], 'E_UNREACHABLE', /cannot reach the operator API at http:\/\/127\.0\.0\.1:9/],
      [['push', '/nonexistent-molt-release', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`], 'E_BUILD', /nonexistent-molt-release/],
    ];
    for (const [args, code, message] of cases) {
      const r = await molt([...args, '--json']);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(JSON.parse(r.stdout), r.stdout).toEqual({ error: { code, message: expect.stringMatching(message) } });
      // the same said to a person, on stderr
      expect(r.stderr).toMatch(/^molt: /);
    }
  });

  it('gives up on a server that takes the connection and never answers, saying so (exit 2), rather than waiting for good', async () => {
    // what a server stopped with SIGSTOP looks like from outside: the kernel accepts, nobody reads
    const silent = createNetServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      for (const command of [['status'], ['abort'], ['cutover'], ['push', '2']]) {
        const t0 = performance.now();
        const r = await molt([...command, '--json', '--url', url, `--token=${DASH_TOKEN}`], { MOLT_OPERATOR_TIMEOUT_MS: '700' });
        expect(r.code, `${command.join(' ')}: ${r.stderr}`).toBe(2);
        expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'E_UNREACHABLE', message: expect.stringMatching(/^cannot reach the operator API at .*: no answer within 0\.7 s \(MOLT_OPERATOR_TIMEOUT_MS\)/) } });
        // the CLI's own 60 s for its child (molt()) would have ended it otherwise
        expect(performance.now() - t0).toBeLessThan(30_000);
      }
      const bad = await molt(['status', '--url', url, `--token=${DASH_TOKEN}`], { MOLT_OPERATOR_TIMEOUT_MS: 'soon' });
      expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^molt: MOLT_OPERATOR_TIMEOUT_MS=soon: expected a whole number of milliseconds/) });
    } finally {
      silent.close();
    }
  });

  /** `molt <args> --json` as a process of its own, to be interrupted with Ctrl-C (SIGINT). */
  function spawnMolt(args: string[]) {
    const child = spawn(process.execPath, ['bin/molt.js', ...args, '--json', `--token=${DASH_TOKEN}`], { cwd: ROOT });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d));
    child.stderr.on('data', (d: Buffer) => (out.stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, out, exited };
  }

  it('aborts the push it runs on Ctrl-C, and prints the refusal: an upgrade whose operator left would hold off every other push', async () => {
    const { child, out, exited } = spawnMolt(['push', '2', '--hold', '--url', server.operatorUrl]);
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(out.stderr).toContain('aborting the upgrade (Ctrl-C again to stop waiting for the report)');
    expect(JSON.parse(out.stdout)).toMatchObject({ result: 'refused', error: { code: 'E_ABORTED' } });
    expect(server.kernel.status().upgrade).toBeNull();
    expect(server.kernel.version).toBe(1);
  }, 60_000);

  it('stops waiting on a second Ctrl-C, when the server has not answered the first, and says the abort it sent stands', async () => {
    // a server that takes the push and the abort and answers neither (busy, or stuck)
    const seen: string[] = [];
    const stuck = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === '/status') res.end(JSON.stringify({ release: 'r1' }));
    });
    await new Promise<void>((resolve) => stuck.listen(0, '127.0.0.1', resolve));
    try {
      const { child, out, exited } = spawnMolt(['push', '2', '--url', `http://127.0.0.1:${(stuck.address() as AddressInfo).port}`]);
      await expect.poll(() => seen, { timeout: 30_000 }).toContain('POST /upgrade');
      child.kill('SIGINT');
      await expect.poll(() => seen, { timeout: 10_000 }).toContain('POST /abort');
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(out.stderr).toContain('molt: stopped waiting for the report; the abort asked for stands: `molt status` shows how the upgrade ended\n');
      expect(out.stderr).not.toContain('left the upgrade running');
      expect(seen.filter((s) => s === 'POST /abort')).toHaveLength(1);
    } finally {
      stuck.closeAllConnections();
      stuck.close();
    }
  }, 60_000);

  it('reaches an operator API on a port fetch refuses (browsers block 10080, 6000, 6667...): OPERATOR_PORT may be any', async () => {
    const stub = createServer((req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ version: 7, release: 'r7', history: [], releases: [], circuits: [], asked: req.url })));
    let port = 0;
    for (const p of [10080, 6679, 6566, 4190, 3659, 6669]) {
      const taken = await new Promise<boolean>((resolve) => {
        stub.once('error', () => resolve(false));
        stub.listen(p, '127.0.0.1', () => resolve(true));
      });
      if (taken) {
        port = p;
        break;
      }
    }
    expect(port, 'every fetch-blocked port tried is in use here').not.toBe(0);
    try {
      const r = await molt(['status', '--json', '--url', `http://127.0.0.1:${port}`, `--token=${DASH_TOKEN}`]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ version: 7, asked: '/status' });
    } finally {
      stub.close();
    }
  });

  it('says what answered is not the operator API (a web page, another service\'s JSON, nothing), rather than a stack trace', async () => {
    const answers: Record<string, [string, string]> = { page: ['text/html', '<html><body>hello</body></html>'], other: ['application/json', '{"ok":true}'], empty: ['text/plain', ''] };
    const stub = createServer((req, res) => {
      const [type, body] = answers[req.headers['x-kind'] as string] ?? answers[(req.url ?? '').split('/')[1]!] ?? answers['page']!;
      res.setHeader('content-type', type).end(body);
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    try {
      // every call at once: each is a CLI process of its own
      const calls = Object.keys(answers).flatMap((kind) =>
        (kind === 'page' ? [['status'], ['push', '2'], ['rollback'], ['cutover'], ['abort'], ['permanent']] : [['status'], ['cutover']]).map((command) => ({ kind, command })),
      );
      const results = await Promise.all(calls.map(({ kind, command }) => molt([...command, '--url', `${base}/${kind}`, `--token=${DASH_TOKEN}`])));
      calls.forEach(({ kind, command }, i) => {
        const r = results[i]!;
        expect(r.code, `${kind} ${command.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr, `${kind} ${command.join(' ')}`).toMatch(/^molt: what answered (GET|POST) \/\w+ at http:\/\/127\.0\.0\.1:\d+\/\w+ is not molt's operator API \(.*\): check --url or MOLT_OPERATOR_URL/);
        expect(r.stderr).not.toMatch(STACK);
      });
      const j = await molt(['status', '--json', '--url', `${base}/page`, `--token=${DASH_TOKEN}`]);
      expect(JSON.parse(j.stdout)).toEqual({ error: { code: 'E_UNREACHABLE', message: expect.stringContaining("is not molt's operator API (not JSON: ") } });
    } finally {
      stub.close();
    }
  }, 120_000);

  it('says a 404, or a failure with no JSON error, is not the operator API: the feed\'s own port, a web server', async () => {
    // a web server's 404 page, and a 502 page from a proxy with nothing behind it
    const stub = createServer((req, res) => {
      res.statusCode = (req.url ?? '').startsWith('/bad-gateway') ? 502 : 404;
      res.setHeader('content-type', 'text/html').end('<html><body>not here</body></html>');
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    try {
      // the feed's port (PORT) in place of the operator's: molt's own JSON 404, E_NOT_FOUND, was passed on as it was
      for (const url of [server.url, `${base}/missing`, `${base}/bad-gateway`]) {
        for (const command of [['status'], ['cutover']]) {
          const r = await molt([...command, '--json', '--url', url, `--token=${DASH_TOKEN}`]);
          expect(r.code, `${url} ${command.join(' ')}: ${r.stderr}`).toBe(2);
          expect(JSON.parse(r.stdout), `${url} ${command.join(' ')}`).toEqual({ error: { code: 'E_UNREACHABLE', message: expect.stringMatching(/^what answered (GET|POST) \/\w+ at http:\/\/\S+ is not molt's operator API \((404|502)\b.*\): check --url or MOLT_OPERATOR_URL/) } });
          expect(r.stderr).not.toMatch(STACK);
        }
      }
    } finally {
      stub.close();
    }
    // the operator API's own refusals still pass through as its own codes
    const refused = await molt(['cutover', '--json', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'E_NOT_HELD' } });
  }, 60_000);

  it('refuses --accept-drops that names a kind twice, or a count past a safe integer, as bad usage: nothing is asked of the server', async () => {
    const history = server.kernel.status().history.length;
    for (const [drops, said] of [
      [['--accept-drops', 'likes=3,likes=5'], /^molt: --accept-drops names likes twice: give each kind once\n/],
      [['--accept-drops', 'likes=3', '--accept-drops', 'likes=5'], /^molt: --accept-drops names likes twice/],
      [['--accept-drops', 'likes=99999999999999999999'], /^molt: --accept-drops likes=99999999999999999999: a count is at most 9007199254740991\n/],
    ] as const) {
      const r = await molt(['push', '2', '--dry-run', ...drops, '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(said);
    }
    // a bad --pace too, before the server is asked anything: no server here
    const pace = await molt(['push', '2', '--pace', 'abc', '--url', 'http://127.0.0.1:1', `--token=${DASH_TOKEN}`]);
    expect(pace.code).toBe(2);
    expect(pace.stderr).toMatch(/^molt: --pace takes entities a second/);
    expect(server.kernel.status().history).toHaveLength(history);
  }, 60_000);

  it('says a release is larger than the operator API reads, rather than that the server cannot be reached', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-huge-'));
    try {
      writeFileSync(path.join(dir, 'index.ts'), `export const ballast = ${JSON.stringify('x'.repeat(33 * 1024 * 1024))};\nexport * from ${abs('src/feed/v2/index.ts')};\n`);
      const r = await molt(['push', dir, '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^molt: POST \/upgrade: the request is 3\d\.\d MiB, and the operator API reads at most 32 MiB/);
      expect(r.stderr).not.toContain('cannot reach');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(server.kernel.version).toBe(1);
  }, 60_000);

  it('is accepted by the operator API with the scheme in any case', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const res = await fetch(`${server.operatorUrl}/status`, { headers: { authorization: `${scheme} ${DASH_TOKEN}` } });
      expect(res.status).toBe(200);
    }
    expect((await fetch(`${server.operatorUrl}/status`, { headers: { authorization: `Basic ${DASH_TOKEN}` } })).status).toBe(401);
    expect((await fetch(`${server.operatorUrl}/status`, { headers: { authorization: `bearer not-the-token-at-all` } })).status).toBe(401);
  });
});

describe('a new operator token', () => {
  it('never starts with a dash', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-tokens-'));
    try {
      // base64url starts with '-' one time in 64: 400 tokens would show it about six times
      const tokens = Array.from({ length: 400 }, (_, i) => ensureTokenFile(path.join(dir, `t${i}`)));
      expect(new Set(tokens).size).toBe(400);
      expect(tokens.filter((t) => t.startsWith('-'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the token file', { timeout: 30_000 }, () => {
  let server: RunningServer;
  let dir: string;
  let tokenFile: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'molt-token-file-'));
    tokenFile = path.join(dir, 'elsewhere', 'operator-token');
    server = await startServer({ port: 0, operatorPort: 0, tokenFile, logLevel: 'silent' });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is read where MOLT_TOKEN_FILE puts it, as the server does', async () => {
    const r = await molt(['status', '--json', '--url', server.operatorUrl], { MOLT_TOKEN: '', MOLT_TOKEN_FILE: tokenFile });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: 1 });
  });

  it('given with --token-file, is read even where MOLT_TOKEN is set (a flag before a variable); a refused token names where it came from', async () => {
    // MOLT_TOKEN exported for another server: --token-file was ignored, and every call refused 401
    const r = await molt(['status', '--json', '--url', server.operatorUrl, '--token-file', tokenFile], { MOLT_TOKEN: 'another-servers-token-0123456789' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: 1 });
    const env = await molt(['status', '--url', server.operatorUrl], { MOLT_TOKEN: 'another-servers-token-0123456789' });
    expect(env.code).toBe(2);
    expect(env.stderr).toBe('molt: the operator API refused the token (401), from MOLT_TOKEN: check --token, --token-file, MOLT_TOKEN or MOLT_TOKEN_FILE (a flag comes before a variable)\n');
    const both = await molt(['status', '--url', server.operatorUrl, '--token-file', tokenFile, '--token=another-servers-token-0123456789']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^molt: --token and --token-file both give the token: give one\n/);
  });

  it('holding what no request can carry (a second line), says so: it was "cannot reach the operator API" of a server that was there', async () => {
    const bad = path.join(dir, 'two-lines');
    writeFileSync(bad, 'an-operator-token-0123456789\n# the staging one\n');
    const r = await molt(['status', '--json', '--url', server.operatorUrl, '--token-file', bad], { MOLT_TOKEN: '' });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'E_UNAUTHORIZED', message: `the operator token from --token-file ${bad} holds a line break, a control character or one past ASCII, which no request can carry: the server's token is one line of printable ASCII (pass --token, or point --token-file or MOLT_TOKEN_FILE at the server's token file)` } });
    expect(r.stderr).not.toContain('cannot reach');
  });

  it('when it cannot be read (a folder), says so: no stack trace', async () => {
    const r = await molt(['status', '--url', server.operatorUrl, '--token-file', dir], { MOLT_TOKEN: '' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`molt: no operator token: ${dir} cannot be read (EISDIR); pass --token, or point --token-file or MOLT_TOKEN_FILE at the server's token file\n`);
  });

  it('when missing, is named in the error with both ways to point at another', async () => {
    const missing = path.join(dir, 'not-there');
    const env = await molt(['status', '--url', server.operatorUrl], { MOLT_TOKEN: '', MOLT_TOKEN_FILE: missing });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(new RegExp(`^molt: no operator token: ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not exist \\(MOLT_TOKEN_FILE\\); `));
    expect(env.stderr).toContain('--token-file FILE or MOLT_TOKEN_FILE');
    const flag = await molt(['status', '--url', server.operatorUrl, '--token-file', missing], { MOLT_TOKEN: '', MOLT_TOKEN_FILE: tokenFile });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain(`no operator token: ${missing} does not exist (--token-file); `);
  });
});

describe('the reports and the status of upgrades', { timeout: 30_000 }, () => {
  let server: RunningServer;
  const TOKEN = 'window-token-0123456789abcdef';
  const as = (args: string[]) => molt([...args, '--url', server.operatorUrl, `--token=${TOKEN}`]);
  beforeAll(async () => {
    server = await startServer({ port: 0, operatorPort: 0, token: TOKEN, logLevel: 'silent' });
  });
  afterAll(async () => server.close());

  it('says nothing of the checks a push refused before them never ran (no false reason)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-unchecked-'));
    try {
      const folder = path.join(dir, 'v2');
      mkdirSync(folder);
      writeFileSync(path.join(folder, 'index.ts'), `export * from ${abs('src/feed/v2/index.ts')};\n`);
      writeFileSync(path.join(folder, 'migrations.ts'), `import { v1ToV2 } from ${abs('migrations/001-v1-to-v2.ts')};
export const migrations = [{ ...v1ToV2, up: { ...v1ToV2.up, finish: () => { throw new Error('refused in migrate'); } } }];\n`);
      const r = await as(['push', folder]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toContain('E_MIGRATION_THREW');
      expect(r.stdout).not.toMatch(/^ {2}checked/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('shows the reversible window in status as what a rollback does: down, or a replay with --replay or where a step has no down', async () => {
    const push = await as(['push', '2']);
    expect(push.code, push.stdout + push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^ {2}checked {4}declared changes, entity by entity: /m);
    const status = await as(['status']);
    expect(status.stdout).toMatch(
      /^ {2}window {5}open since upgrade [0-9a-f]{8}, \d+ writes: rollback goes back to v1 through down, or replays these writes through v1 with --replay or where a step has no down; closes in \d+ min or at molt permanent$/m,
    );
    expect(status.stdout).not.toContain('rollback replays');
  }, 60_000);

  it('says nothing of checks an aborted rollback by replay never reached', async () => {
    expect(server.kernel.version).toBe(2);
    const rollback = as(['rollback', '--replay', '--hold']);
    await expect.poll(() => server.kernel.status().upgrade?.held, { timeout: 30_000 }).toBe(true);
    expect((await as(['abort'])).code).toBe(0);
    const r = await rollback;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain('E_ABORTED');
    expect(r.stdout).not.toContain('no step declares the shapes of its states');
    expect(server.kernel.version).toBe(2);
  }, 60_000);
});
