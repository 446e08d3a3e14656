/**
 * Mark feed versions as released: `npx tsx test/feed/record-release.ts 3` records the SHA-256 of every
 * source of v3 in src/feed/released.json. A released version is frozen: this never overwrites one.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { hashesOf, RELEASED, readReleased, type Released } from './release-hashes.ts';

const released: Released = existsSync(RELEASED) ? readReleased() : {};
for (const arg of process.argv.slice(2)) {
  const version = Number(arg);
  if (!Number.isInteger(version) || version < 1) throw new Error(`not a version: ${arg}`);
  if (released[version] !== undefined) {
    console.log(`v${version} is already released; its sources are frozen`);
    continue;
  }
  released[version] = hashesOf(version);
  console.log(`released v${version}: ${Object.keys(released[version]!).length} files`);
}
writeFileSync(RELEASED, JSON.stringify(released, null, 2) + '\n');
