// Feed version 2 unchanged: what is broken is this release's migrations.ts.
export * from '../../src/feed/v2/index.ts';
