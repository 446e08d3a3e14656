#!/usr/bin/env node
// The operator CLI. TypeScript runs through tsx, like `npm start`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
