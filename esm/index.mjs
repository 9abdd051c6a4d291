// ESM entry point: a thin re-export of the CommonJS build, so `import` and
// `require()` share one implementation, one addon instance and one set of
// classes (`err instanceof AbortError` holds whichever way it was loaded).
// test/package.test.ts checks that these names match the CommonJS exports.
import sockprobe from '../lib/index.js';

export const {
  probe,
  AbortError,
  assertNever,
  isBlocked,
  isDnsError,
  isLocalError,
  isOpen,
  isRefused,
  isTimeout,
  isUnreachable,
} = sockprobe;
