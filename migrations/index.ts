/** Every migration step, in order: a gapless chain from version 1 (test/migrations/chain.test.ts). */
import type { Migration } from '../src/contract.ts';
import { v1ToV2 } from './001-v1-to-v2.ts';
import { v2ToV3 } from './002-v2-to-v3.ts';

export const migrations: readonly Migration[] = [v1ToV2, v2ToV3];
