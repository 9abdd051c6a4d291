// Type-level tests, compiled with `tsc --noEmit` by `npm test`: the union's
// narrowing is part of the API.
import { assertNever, isNotReady, isOpen, probe, type LocalErrorStage, type NotReadyReason, type ProbeResult, type Status } from '../../src';

export function describeResult(r: ProbeResult): string {
  switch (r.status) {
    case 'open':
      return `open in ${r.connectMs} ms, sndbuf ${r.sndbuf}, local ${r.local.address}${r.check ? `, ${r.check.name}: ${r.check.detail}` : ''}`;
    case 'not-ready':
      // The TCP facts are kept; the check's evidence is always there.
      return `not ready (${r.reason}) after ${r.connectMs} ms: ${r.check.detail}, TLS ${r.check.tls?.version ?? '-'}, expires ${r.check.tls?.leaf?.notAfter ?? '-'}`;
    case 'refused':
      return `refused: ${r.code}`;
    case 'blocked':
      return `blocked by ${r.from ?? 'a filter'}: ${r.reason}`;
    case 'unreachable':
      return `unreachable: ${r.reason}`;
    case 'timeout':
      return `timeout after ${r.synRetransmits ?? '?'} SYN retransmissions`;
    case 'local-error':
      return `local error at ${r.stage}: ${r.code}`;
    case 'dns-error':
      return `dns: ${r.code}`;
    default:
      return assertNever(r);
  }
}

export function missingMember(r: ProbeResult): string {
  switch (r.status) {
    case 'open':
    case 'not-ready':
    case 'refused':
    case 'blocked':
    case 'unreachable':
    case 'timeout':
    case 'local-error':
      return r.status;
    default:
      // @ts-expect-error 'dns-error' is not handled, so r is not never here.
      return assertNever(r);
  }
}

export async function narrowing(): Promise<void> {
  const r = await probe('127.0.0.1', 80);
  if (isOpen(r)) {
    const n: number = r.sndbuf;
    void n;
  }
  // @ts-expect-error sndbuf exists only on open results.
  void r.sndbuf;
  if (r.status === 'dns-error') {
    const a: null = r.address;
    void a;
  }
  const s: Status = r.status;
  void s;
}

/** A local-error's stage is a closed union of words: a switch over it can be exhaustive. */
export function stageWords(stage: LocalErrorStage): string {
  switch (stage) {
    case 'socket':
    case 'socket-option':
    case 'address':
    case 'bind':
    case 'connect':
    case 'watch':
    case 'handshake':
    case 'error-queue':
      return stage;
    default:
      return assertNever(stage);
  }
}

export function stageIsTyped(r: ProbeResult): void {
  if (r.status !== 'local-error') return;
  const s: LocalErrorStage = r.stage;
  void s;
  // @ts-expect-error the addon's raw stage names are not what a result shows.
  void (r.stage === 'so_error');
}

/** A check is typed by its name: its options are checked at compile time too. */
export async function checks(): Promise<void> {
  await probe('127.0.0.1', 443, { check: { tls: { ca: 'PEM', alpn: ['h2'], servername: 'example.test' } } });
  await probe('127.0.0.1', 80, { check: { http: { path: '/healthz', status: '200-299', body: /ok/ } } });
  await probe({ host: '127.0.0.1', port: 443, check: { https: { path: '/', tls: { insecure: true } } } });
  // @ts-expect-error alpn is a list of protocol names.
  await probe('127.0.0.1', 443, { check: { tls: { alpn: 'h2' } } });
  // @ts-expect-error a check is named by its key: 'gopher' is none.
  await probe('127.0.0.1', 70, { check: { gopher: {} } });
  const r = await probe('127.0.0.1', 443);
  if (isNotReady(r)) {
    const reason: NotReadyReason = r.reason;
    const code: string | null = r.code;
    void reason;
    void code;
  }
}
