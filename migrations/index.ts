/** Every migration step, in order: a gapless chain from version 1 (test/migrations/chain.test.ts). */
import type { Migration } from '../src/contract.ts';
import { v1ToV2 } from './001-v1-to-v2.ts';

export const migrations: readonly Migration[] = [v1ToV2];
