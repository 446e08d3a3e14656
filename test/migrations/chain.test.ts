/** migrations/index.ts lists every step file in migrations/, in order, as a gapless chain from 1. */
import { direction } from '../../src/feed/lib/run.ts';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';

const dir = new URL('../../migrations/', import.meta.url);

describe('migrations/index.ts', () => {
  it('lists one migration for every step file in migrations/', async () => {
    const files = readdirSync(dir).filter((f) => f !== 'index.ts' && f.endsWith('.ts')).sort();
    expect(files.length).toBeGreaterThan(0);
    expect(migrations).toHaveLength(files.length);
    for (const [i, file] of files.entries()) {
      expect(file).toMatch(/^\d{3}-v\d+-to-v\d+\.ts$/);
      const mod = await import(new URL(file, dir).href);
      // the file's exported step is the one index.ts lists at that position
      expect(Object.values(mod)).toContain(migrations[i]);
      const [, from, to] = /-v(\d+)-to-v(\d+)\.ts$/.exec(file)!;
      expect([migrations[i]!.from, migrations[i]!.to]).toEqual([Number(from), Number(to)]);
    }
  });

  it('forms a gapless chain starting at version 1, each step going up by one', () => {
    migrations.forEach((m, i) => {
      expect(m.from, `migration ${i}`).toBe(i + 1);
      expect(m.to, `migration ${i}`).toBe(m.from + 1);
      for (const dir of ['up', 'down'] as const) {
        const d = direction(m, dir);
        if (dir === 'up') expect(d, 'every step has up').toBeDefined();
        if (d) expect(d.describe.trim().length, `${m.from}->${m.to} ${dir} says what it does`).toBeGreaterThan(0);
      }
    });
  });
});
