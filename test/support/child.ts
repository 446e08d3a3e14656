import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `src/main.ts` in a child process on free ports; resolves with its URL once it listens. */
export async function startChild(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', OPERATOR_PORT: '0', MOLT_TOKEN: 'child-server-token-0123456789', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let rest = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      rest += String(d);
      for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        lines.push(line);
        const url = (JSON.parse(line) as { url?: string }).url;
        if (url) resolve(url);
      }
    });
    child.stderr!.on('data', (d: Buffer) => lines.push(String(d)));
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}: ${lines.join('\n')}`)));
  });
  return { child, url, wsUrl: `${url.replace(/^http/, 'ws')}/ws`, lines };
}

