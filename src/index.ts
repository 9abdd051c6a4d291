export { probe } from './probe';
export type { ProbeOptions, ProbeTarget } from './probe';
export { AbortError } from './errors';
export { inspect } from './inspect';
export type { InspectOptions, PendingError, SocketSnapshot, TcpState } from './inspect';
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
