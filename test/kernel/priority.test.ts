import { readFileSync, readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import { tiny } from '../support/tiny.ts';

/** This process's children and their nice values, read from /proc (field 19 of stat). */
function childNices(): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(fields[1]) === process.pid) out.set(pid, Number(fields[16]));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('the rehearsal yields the CPU to the live feed', () => {
  it.runIf(process.platform === 'linux')('runs at the nice value its limit names, so the feed and its clients come first', async () => {
    const before = childNices();
    const kernel = new Kernel(tiny(), { limits: { rehearsalNice: 7 } });
    await kernel.warm();
    const started = [...childNices()].filter(([pid]) => !before.has(pid));
    // one new child, the rehearsal; a process may raise its children's nice value, never below its own
    expect(started.map(([, nice]) => nice)).toEqual([Math.max(7, getPriority())]);
    await kernel.close();
  });

  it('refuses a nice value outside 0-19 with a clear error', () => {
    expect(() => new Kernel(tiny(), { limits: { rehearsalNice: 20 } })).toThrow('limit rehearsalNice = 20; expected an integer from 0 to 19');
  });
});
