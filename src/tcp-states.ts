// The kernel's TCP states: one table of their numbers (include/net/tcp_states.h,
// as TCP_INFO's tcpi_state and the `st` column of /proc/net/tcp give them) and
// the names `ss` prints, for classify(), inspect() and the /proc/net reader.

/** TCP state as `ss` names it (Linux TCP_INFO's tcpi_state); 'unknown' for a number the table does not have. */
export type TcpState =
  | 'established'
  | 'syn-sent'
  | 'syn-recv'
  | 'fin-wait-1'
  | 'fin-wait-2'
  | 'time-wait'
  | 'close'
  | 'close-wait'
  | 'last-ack'
  | 'listen'
  | 'closing'
  | 'new-syn-recv'
  | 'bound-inactive'
  | 'unknown';

/** TCP state number by the name `ss` gives it. */
export const TCP_STATE = {
  established: 1,
  'syn-sent': 2,
  'syn-recv': 3,
  'fin-wait-1': 4,
  'fin-wait-2': 5,
  'time-wait': 6,
  close: 7,
  'close-wait': 8,
  'last-ack': 9,
  listen: 10,
  closing: 11,
  'new-syn-recv': 12,
  'bound-inactive': 13,
} as const satisfies Record<Exclude<TcpState, 'unknown'>, number>;

const names: readonly TcpState[] = (() => {
  const list: TcpState[] = [];
  for (const [name, n] of Object.entries(TCP_STATE) as [TcpState, number][]) list[n] = name;
  return Array.from(list, (name) => name ?? 'unknown');
})();

/** The name of a state number: 'established' for 1, 'unknown' for a number the table does not have. */
export function tcpStateName(state: number): TcpState {
  return names[state] ?? 'unknown';
}
