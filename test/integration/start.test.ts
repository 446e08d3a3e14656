/** `npm start` with a setting it cannot use (a port that is taken, a boot version that does not build): said as one, not an exception. */
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../src/release/build.ts';
import { ensureTokenFile } from '../../src/transport/token.ts';
import { molt } from '../support/client.ts';

function start(env: Record<string, string>, script = 'src/main.ts'): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = { ...process.env };
  delete clean['MOLT_TOKEN'];
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: { ...clean, HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('a start on a port in use', () => {
  let taken: Server;
  let port: number;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'molt-start-'));
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as AddressInfo).port;
  });
  afterAll(() => {
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names PORT and exits 2, as for a bad setting, and leaves no token file for a server that never ran', async () => {
    const tokenFile = path.join(dir, 'fresh', 'operator-token');
    const r = await start({ PORT: String(port), OPERATOR_PORT: '0', MOLT_TOKEN_FILE: tokenFile });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toBe(`molt: PORT=${port} on 127.0.0.1 is in use (another molt, or another program, listens there): stop that one or set another PORT\n`);
    expect(r.stdout).not.toContain('molt is running');
    expect(existsSync(tokenFile)).toBe(false);
  }, 60_000);

  it('names OPERATOR_PORT, and keeps a token file that was there before', async () => {
    const tokenFile = path.join(dir, 'kept-token');
    writeFileSync(tokenFile, 'an-operator-token-kept-0123456789\n');
    const r = await start({ PORT: '0', OPERATOR_PORT: String(port), MOLT_TOKEN_FILE: tokenFile });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toBe(`molt: OPERATOR_PORT=${port} on 127.0.0.1 is in use (another molt, or another program, listens there): stop that one or set another OPERATOR_PORT\n`);
    expect(readFileSync(tokenFile, 'utf8')).toBe('an-operator-token-kept-0123456789\n');
  }, 60_000);
});

describe('a start with a boot version that does not build', () => {
  it('names MOLT_BOOT and exits 2, as for a bad setting, and leaves no token file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-start-'));
    try {
      const tokenFile = path.join(dir, 'operator-token');
      const r = await start({ PORT: '0', OPERATOR_PORT: '0', MOLT_BOOT: '9', MOLT_TOKEN_FILE: tokenFile });
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toBe(`molt: MOLT_BOOT=9 does not build: no version folder at ${path.join('src', 'feed', 'v9')}\n`);
      expect(existsSync(tokenFile)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a start with an operator token no request could carry', () => {
  it('names MOLT_TOKEN and exits 2, as for a bad setting: too short (it was a stack trace, exit 1), a space at an end (every request was refused 401)', async () => {
    for (const [token, said] of [
      ['short', 'it is 5 characters'],
      ['a-token-long-enough-0123456789 ', 'it is 31 characters, some of them spaces, controls or past ASCII'],
      ['a-token-long-enough-0123456789\u00e9', 'it is 31 characters, some of them spaces, controls or past ASCII'],
    ]) {
      const r = await start({ PORT: '0', OPERATOR_PORT: '0', MOLT_TOKEN: token! });
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toBe(`molt: MOLT_TOKEN must be at least 16 characters of printable ASCII, with no spaces (it is sent in an HTTP header); ${said}\n`);
      expect(r.stdout).not.toContain('molt is running');
    }
  }, 120_000);
});

describe('a start with a token file the operator wrote', () => {
  it('refuses one no request could carry, exit 2, naming the file, and leaves it as it was; an empty one gets a token', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-start-'));
    try {
      for (const [text, said] of [
        ['secret\n', 'is 6 characters'],
        ['a-token-long-enough-0123456789\nsecond-line\n', 'is more than one line, or holds spaces'],
      ] as const) {
        const tokenFile = path.join(dir, 'operator-token');
        writeFileSync(tokenFile, text);
        const r = await start({ PORT: '0', OPERATOR_PORT: '0', MOLT_TOKEN_FILE: tokenFile });
        expect(r.code, r.stdout + r.stderr).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`^molt: the operator token in ${tokenFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ${said}.*Write one, or delete the file and the server makes one\n$`));
        expect(r.stdout).not.toContain('molt is running');
        // a short one was replaced by a new token without a word
        expect(readFileSync(tokenFile, 'utf8')).toBe(text);
      }
      // an empty one (touched to be there) is filled, as a missing one is made
      const empty = path.join(dir, 'empty-token');
      writeFileSync(empty, '');
      const made = ensureTokenFile(empty);
      expect(made).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
      expect(readFileSync(empty, 'utf8')).toBe(`${made}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('`npm run demo` with a setting it cannot use', () => {
  // it reads the same variables as `npm start` (README), and said each as a failure of its own, exit 1
  it('names it and exits 2, as `npm start` does: a variable out of its range, MOLT_BOOT, MOLT_TOKEN', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'molt-demo-'));
    try {
      const tokenFile = path.join(dir, 'operator-token');
      const cases: [Record<string, string>, string][] = [
        [{ MOLT_COMMANDS_PER_SEC: '-1' }, 'molt demo: MOLT_COMMANDS_PER_SEC=-1: expected a positive number (default 20)\n'],
        [{ MOLT_BOOT: '9' }, `molt demo: MOLT_BOOT=9 does not build: no version folder at ${path.join('src', 'feed', 'v9')}\n`],
        [{ MOLT_TOKEN: 'short' }, 'molt demo: MOLT_TOKEN must be at least 16 characters of printable ASCII, with no spaces (it is sent in an HTTP header); it is 5 characters\n'],
      ];
      for (const [env, said] of cases) {
        const r = await start({ PORT: '0', OPERATOR_PORT: '0', MOLT_TOKEN_FILE: tokenFile, ...env }, 'src/demo.ts');
        expect(r.code, JSON.stringify(env) + r.stdout + r.stderr).toBe(2);
        expect(r.stderr).toBe(said);
        expect(existsSync(tokenFile)).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('`npm run demo` with a token file of its own', () => {
  it('suggests commands that work as printed in a terminal that never set MOLT_TOKEN_FILE', async () => {
    // they had --url but not --token-file: typed in a fresh terminal, they read .molt/operator-token
    const dir = mkdtempSync(path.join(tmpdir(), "molt demo's "));
    const clean = { ...process.env };
    delete clean['MOLT_TOKEN'];
    delete clean['MOLT_TOKEN_FILE'];
    const demo = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts', '--bots', '0'], {
      cwd: ROOT,
      env: { ...clean, HOST: '127.0.0.1', PORT: '0', OPERATOR_PORT: '0', MOLT_TOKEN_FILE: path.join(dir, 'operator-token') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
      demo.stderr.resume();
      await expect.poll(() => /npx molt status.*\n/.test(out), { timeout: 60_000 }).toBe(true);
      const line = /npx molt (status.*)\n/.exec(out)![1]!;
      expect(line).toContain('--token-file');
      // the words a shell makes of it: bare, or in single quotes ('\'' a quote inside)
      const words = [...line.matchAll(/((?:[^\s']+|'(?:[^']|'\\'')*')+)/g)].map((m) => m[1]!.replace(/'\\''/g, "\u0000").replace(/'/g, '').replace(/\u0000/g, "'"));
      // (empty is unset to the CLI: a terminal that never set either)
      const r = await molt([...words, '--json'], { MOLT_TOKEN_FILE: '', MOLT_TOKEN: '' });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ version: 1 });
    } finally {
      demo.kill('SIGTERM');
      await new Promise((resolve) => demo.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
