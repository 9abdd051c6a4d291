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
  isNotReady,
  isOpen,
  isRefused,
  isTimeout,
  isUnreachable,
} from './types';
export type * from './types';
export { waitFor, WaitTimeoutError } from './health/waitFor';
export type { WaitForOptions } from './health/waitFor';
export { check } from './health/check';
export type { CheckOptions, CheckReport, TargetCheck } from './health/check';
export { monitor, Monitor } from './health/monitor';
export type { HealthState, MonitorEvents, MonitorOptions, MonitorStatus, TargetStatus, Transition } from './health/monitor';
export { healthHandler } from './health/handler';
export type { HealthHandler, HealthHandlerOptions, HealthReport } from './health/handler';
export type { HealthTarget, PassThroughProbeOptions } from './health/targets';
export type { ConnectionCheck, ConnectionOptions, ConnectionReason, HealthConnection } from './health/connections';
export { describe } from './describe';
export { explain } from './explain';
export type { Diagnosis, ExplainOptions, Step, Verdict, CauseCode } from './explain';
export { parseTarget, formatTarget, SCHEMES } from './target';
export type { CheckSpec, CheckOptionsMap, HttpsCheckOptions, ProtocolCheckOptions } from './checks/index';
export type { TlsCheckOptions } from './checks/tls';
export type { HttpCheckOptions } from './checks/http';
export { probeMany, parsePorts, expandTargets, DEFAULT_CONCURRENCY } from './many';
export type { ProbeManyOptions, ProbeManyResult } from './many';
export { trace, DEFAULT_MAX_HOPS } from './trace';
export type { TraceHop, TraceOptions, TraceResult, TraceVerdict, TraceVerdictKind } from './trace';
