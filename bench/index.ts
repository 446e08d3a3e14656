/**
 * `npm run bench`: every benchmark, one JSON document. Each runs in a process of its own (their heaps
 * and timers do not mix): run.ts (the kernel: command cost, containment, release churn, sockets) and
 * online.ts (upgrades with 50 live clients, at BENCH_SIZES). `npm run bench:kernel` and
 * `npm run bench:online` run one.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function run(file: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', path.join(here, file)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`bench/${file} exited with ${code}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`bench/${file} printed no JSON`));
      }
    });
  });
}

const kernel = await run('run.ts');
const online = await run('online.ts');
process.stdout.write(`${JSON.stringify({ kernel, online }, null, 2)}\n`);
