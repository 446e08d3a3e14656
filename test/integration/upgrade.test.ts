import { createHash } from 'node:crypto';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server.ts';
import { buildRelease } from '../../src/release/build.ts';
import type { UpgradeFrame } from '../../src/transport/protocol.ts';
import { TestClient, UNMETERED, allPosts, molt } from '../support/client.ts';

const TOKEN = 'integration-test-token-0123456789';
const digest = (state: unknown) => createHash('sha256').update(pack(state)).digest('hex');

describe('a live upgrade on a real server, driven by the CLI', () => {
  let server: RunningServer;
  let cli: (args: string[]) => ReturnType<typeof molt>;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    // A short migration limit so the looping release is stopped quickly.
    server = await startServer({ port: 0, operatorPort: 0, token: TOKEN, logLevel: 'silent', limits: { migrationTimeoutMs: 1500 }, ws: UNMETERED });
    cli = (args) => molt([...args, '--url', server.operatorUrl, '--token', TOKEN]);
    for (const handle of ['ada', 'bob', 'cyd']) {
      const c = await TestClient.open(server.wsUrl);
      await c.ok('join', { handle });
      clients.push(c);
    }
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.close();
  });

  it('pushes v2 while clients post: every client stays connected, sees the upgrade, and every post lands once', async () => {
    const [ada, bob, cy] = clients as [TestClient, TestClient, TestClient];
    const first = await ada.ok('post', { text: 'hello from v1' });
    await bob.ok('like', { post: first.post.id });
    await cy.ok('like', { post: first.post.id });

    // Everyone keeps posting while the operator pushes.
    let pushing = true;
    const sent: Promise<{ ok: boolean; data?: any }>[] = [];
    const texts: string[] = [];
    const posters = clients.map(async (c, i) => {
      for (let n = 0; pushing || n < 5; n++) {
        const text = `c${i}-${n}`;
        texts.push(text);
        sent.push(c.send('post', { text }));
        await new Promise((r) => setTimeout(r, 2));
      }
    });
    const push = await cli(['push', '2', '--json']);
    pushing = false;
    await Promise.all(posters);
    const replies = await Promise.all(sent);

    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    const report = JSON.parse(push.stdout);
    expect(report).toMatchObject({ result: 'committed', from: { version: 1 }, to: { version: 2, release: server.kernel.release } });
    expect(report.dropped).toEqual({});
    expect(report.census.after.posts).toBe(report.census.before.posts);

    // Every post sent before, during and after the push was applied exactly once.
    expect(replies.filter((r) => !r.ok)).toEqual([]);
    const timeline = await allPosts(ada);
    const seen = timeline.map((p) => p.text);
    for (const text of texts) expect(seen.filter((t) => t === text)).toHaveLength(1);

    // Every client is still connected and saw the phases, then a hello for v2.
    for (const c of clients) {
      expect(c.closed).toBeNull();
      const upgrade = c.frames.filter((f): f is UpgradeFrame => f.t === 'upgrade' && f.upgrade === report.upgrade).map((f) => f.phase);
      // progress frames repeat while the new state is built; catch-up rounds follow the posts sent meanwhile
      const distinct = upgrade.filter((p, i) => p !== upgrade[i - 1] && p !== 'catch-up');
      expect(distinct).toEqual(['begin', 'load', 'migrate', 'validate', 'cutover', 'committed']);
      const committed = c.frames.find((f): f is UpgradeFrame => f.t === 'upgrade' && f.phase === 'committed')!;
      expect(committed.hello).toMatchObject({ version: 2, commands: expect.arrayContaining(['react', 'unreact']) });
    }

    // The migrated state: the two likes are now ❤️ reactions.
    const post = timeline.find((p) => p.id === first.post.id);
    expect(post.reactions).toEqual({ '❤️': 2 });
    expect(post).not.toHaveProperty('likes');
    await ada.ok('react', { post: first.post.id, emoji: '🎉' });
    const status = await cli(['status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ version: 2, connections: 3, online: 3 });
  }, 60_000);

  it('refuses each broken release with a clear error, keeps the state identical and keeps serving', async () => {
    const [ada] = clients as [TestClient];
    for (const [folder, code] of [
      ['examples/broken-throws', 'E_MIGRATION_THREW'],
      ['examples/broken-invalid', 'E_VALIDATE'],
      ['examples/broken-loses-posts', 'E_INVARIANT'],
      ['examples/broken-loops', 'E_MIGRATION_TIMEOUT'],
    ] as const) {
      // These folders are version 2: go back to 1 first so that each is a real 1 -> 2 upgrade.
      if (server.kernel.version === 2) expect((await cli(['rollback'])).code).toBe(0);
      const before = { state: server.kernel.state, hash: digest(server.kernel.state), release: server.kernel.release };
      const r = await cli(['push', folder]);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toContain(`REFUSED: nothing was changed, still v1`);
      expect(r.stdout).toContain(code);
      expect(server.kernel.state).toBe(before.state);
      expect(digest(server.kernel.state)).toBe(before.hash);
      expect(server.kernel.release).toBe(before.release);
      expect((await ada.ok('post', { text: `still here after ${folder}` })).post.text).toBe(`still here after ${folder}`);
    }
    for (const c of clients) expect(c.closed).toBeNull();
  }, 60_000);

  it('rolls back to v1 and the reactions become likes again, with the casualties reported', async () => {
    const [ada] = clients as [TestClient];
    if (server.kernel.version === 1) expect((await cli(['push', '2'])).code).toBe(0);
    const target = (await allPosts(ada)).find((p) => p.text === 'hello from v1');
    await ada.ok('react', { post: target.id, emoji: '😂' });
    // a dry run that drops what its flags do not accept exits 1, as the real run would be refused, and names the flag it needs
    const dry = await cli(['rollback', '--dry-run']);
    expect(dry.code, dry.stdout + dry.stderr).toBe(1);
    expect(dry.stdout).toContain('dry run passed: nothing was changed');
    expect(dry.stdout).toContain('to commit  the real rollback needs --accept-drops reactions=1 (without it: refused, E_DROPS_NOT_ACCEPTED)\n');
    const dryAccepted = await cli(['rollback', '--dry-run', '--accept-drops', 'reactions=1']);
    expect(dryAccepted.code, dryAccepted.stdout + dryAccepted.stderr).toBe(0);
    expect(dryAccepted.stdout).toContain('to commit  the drops are accepted by the --accept-drops given');
    expect(server.kernel.version).toBe(2);
    const refused = await cli(['rollback', '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'E_DROPS_NOT_ACCEPTED', message: expect.stringMatching(/drops 1 reactions.*--accept-drops reactions=1/) });
    // the report of the refusal says what it would drop, and the fix in full
    expect(JSON.parse(refused.stdout).dropped).toMatchObject({ reactions: 1 });
    const told = await cli(['rollback']);
    expect(told.code).toBe(1);
    expect(told.stdout).toContain('would drop reactions 1\n');
    expect(told.stdout).toContain('to commit  run it again with --accept-drops reactions=1\n');
    const r = await cli(['rollback', '--accept-drops', 'reactions=1', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ kind: 'rollback', result: 'committed', from: { version: 2 }, to: { version: 1 } });
    expect(report.dropped.reactions).toBeGreaterThan(0);
    const post = (await allPosts(ada)).find((p) => p.id === target.id);
    expect(post.likes).toBe(3); // bob ❤️, cy ❤️, ada (🎉 and 😂 fold into one like)
    expect(post).not.toHaveProperty('reactions');
    for (const c of clients) expect(c.closed).toBeNull();
  }, 60_000);

  it('answers a bad CLI command with a clear message and exit status 2, changing nothing', async () => {
    const release = server.kernel.release;
    const missing = await cli(['push', '99']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no version folder at src\/feed\/v99/);
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const noServer = await molt(['status', '--url', 'http://127.0.0.1:9', '--token', TOKEN]);
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toMatch(/cannot reach the operator API at http:\/\/127.0.0.1:9/);
    expect(server.kernel.release).toBe(release);
  });

  it('answers a malformed operator request with 400 and a code, changing nothing', async () => {
    const release = server.kernel.release;
    const post = (body: string) =>
      fetch(`${server.operatorUrl}/upgrade`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
    const empty = await post('{}');
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ error: { code: 'E_BAD_REQUEST', message: expect.stringContaining('needs {release') } });
    const garbage = await post('{"release": ');
    expect(garbage.status).toBe(400);
    expect((await garbage.json()).error.code).toBe('E_BAD_REQUEST');
    const notCode = await post(JSON.stringify({ release: { code: 42, view: null } }));
    expect(notCode.status).toBe(400);
    // a flag that is not a boolean is refused, never read as false (a real push would commit)
    const v2 = await buildRelease(2);
    const yes = await post(JSON.stringify({ release: { code: v2.code, view: v2.view, hash: v2.hash }, dryRun: 'yes' }));
    expect(yes.status).toBe(400);
    expect(await yes.json()).toMatchObject({ error: { code: 'E_BAD_REQUEST', message: 'dryRun must be true or false, not "yes"' } });
    for (const body of ['{"dryRun": "true"}', '{"replay": 1}', '[]']) {
      const back = await fetch(`${server.operatorUrl}/rollback`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body });
      expect(back.status, body).toBe(400);
      expect((await back.json()).error.code).toBe('E_BAD_REQUEST');
    }
    // JSON sent as something else (curl -d sends form data): 400 as documented, saying what to send
    const form = await fetch(`${server.operatorUrl}/rollback`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' }, body: '{}' });
    expect(form.status).toBe(400);
    expect(await form.json()).toEqual({ error: { code: 'E_BAD_REQUEST', message: 'the body must be JSON, sent with Content-Type: application/json (got "application/x-www-form-urlencoded")' } });
    const text = await fetch(`${server.operatorUrl}/rollback`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' }, body: '{}' });
    expect(text.status).toBe(400);
    expect(await text.json()).toEqual({ error: { code: 'E_BAD_REQUEST', message: 'the body must be JSON, sent with Content-Type: application/json (got "text/plain")' } });
    // a route that reads no body refuses one it cannot read too: it does not run
    for (const route of ['/abort', '/cutover', '/permanent']) {
      const res = await fetch(`${server.operatorUrl}${route}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' }, body: 'go' });
      expect(res.status, route).toBe(400);
      expect((await res.json()).error.code).toBe('E_BAD_REQUEST');
    }
    expect(server.kernel.release).toBe(release);
  });

  it('refuses the operator API without the right token, and nothing runs', async () => {
    const release = server.kernel.release;
    for (const auth of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN]) {
      const res = await fetch(`${server.operatorUrl}/rollback`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body: '{}' });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: 'E_UNAUTHORIZED', message: 'missing or wrong operator token' } });
    }
    expect(server.kernel.release).toBe(release);
    const r = await molt(['status', '--url', server.operatorUrl, '--token', 'nope-nope-nope-nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused the token \(401\)/);
  });
});
