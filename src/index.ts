export { probe } from './probe';
export type { ProbeOptions, ProbeTarget } from './probe';
export { AbortError } from './errors';
export {
  assertNever,
  isBlocked,
  isDnsError,
  isLocalError,
  isOpen,
  isRefused,
  isTimeout,
  isUnreachable,
} from './types';
export type * from './types';
export { probeMany, parsePorts, expandTargets, DEFAULT_CONCURRENCY } from './many';
export type { ProbeManyOptions, ProbeManyResult } from './many';
