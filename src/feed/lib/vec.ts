/**
 * The persistent vector, for versions after v2. Today it is v1's (../v1/vec.ts), re-exported: v1 is
 * frozen with its copy, and a fix made here (replacing a re-export with a fixed function) reaches every
 * version that imports the library without changing a released one. See ART.md, "The shared library".
 */
export * from '../v1/vec.ts';
