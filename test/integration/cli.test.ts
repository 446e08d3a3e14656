/** The operator CLI and API meet tokens and typos: usage errors, never a stack trace. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { ensureTokenFile } from '../../src/transport/token.ts';
import { molt } from '../support/client.ts';

const DASH_TOKEN = '-starts-with-a-dash-0123456789';
const STACK = /\n\s+at /;

describe('the CLI', () => {
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

  it('takes a token that starts with a dash as --token=VALUE, and says so when it is given as --token VALUE', async () => {
    const ok = await molt(['status', '--json', '--url', server.operatorUrl, `--token=${DASH_TOKEN}`]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ version: 1 });
    const bad = await molt(['status', '--url', server.operatorUrl, '--token', DASH_TOKEN]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^molt: --token needs a value; a value that starts with '-' is written --token=VALUE\n/);
    expect(bad.stderr).not.toMatch(STACK);
  });

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
