/** The demo's bots: they post, reply and like on v1, and switch to reactions when v2 commits. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startDemo, type Demo } from '../../src/demo.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('the demo', () => {
  let demo: Demo | undefined;
  afterAll(async () => demo?.close());

  it('has bots that post and like on v1 and react once v2 is pushed', async () => {
    const versions: number[] = [];
    demo = await startDemo({ port: 0, operatorPort: 0, bots: 3, pace: 120, logLevel: 'silent', onVersion: (v) => versions.push(v) });
    const total = (k: 'post' | 'reply' | 'like' | 'react') => demo!.bots.reduce((n, b) => n + b.done[k], 0);
    await expect.poll(() => total('post') > 2 && total('like') > 0, { timeout: 15_000 }).toBe(true);

    const { server } = demo;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'push', '2', '--url', server.operatorUrl, '--token', server.token, '--json'], { cwd: ROOT }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    expect(JSON.parse(out)).toMatchObject({ result: 'committed' });
    await expect.poll(() => total('react') > 0, { timeout: 15_000 }).toBe(true);
    expect(versions).toEqual([1, 2]);
    expect(server.kernel.version).toBe(2);
  }, 60_000);
});
