/**
 * The persistent hash trie, for versions after v2. Today it is v1's (../v1/trie.ts), re-exported; see
 * vec.ts here for why.
 */
export * from '../v1/trie.ts';
