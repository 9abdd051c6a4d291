// Types of the ESM entry point: the same declarations as the CommonJS build.
export * from '../lib/index.js';
