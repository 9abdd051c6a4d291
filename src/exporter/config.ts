// The exporter's configuration: blackbox_exporter's YAML (`modules:`), the
// parts that concern TCP and Unix sockets, plus sockprobe's own `sockprobe:`
// section (the target allowlist and the per-client limits), which may also
// sit in a file of its own so that a config shared with blackbox_exporter
// (which rejects unknown keys) stays loadable by both.
//
// Parsed with `yaml` (eemeli/yaml) into a document whose nodes keep their
// offsets, so every error names the file, the line and the module. Unknown
// keys are errors, as blackbox_exporter makes them (yaml KnownFields).
import * as fs from 'node:fs';
import { BlockList, isIP } from 'node:net';
import * as path from 'node:path';
import { checkPlan, type CheckSpec } from '../checks/index';
import type { HttpCheckOptions } from '../checks/http';
import type { Step } from '../checks/send-expect';
import type { TlsCheckOptions } from '../checks/tls';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, stringify, type Node as YamlNode } from 'yaml';
import { parsePorts } from '../ports';

export type IpProtocol = 'ip4' | 'ip6';

/** blackbox_exporter's tls_config (prometheus/common's TLSConfig), as given. */
export interface TlsConfig {
  ca?: string;
  caFile?: string;
  cert?: string;
  certFile?: string;
  key?: string;
  keyFile?: string;
  serverName?: string;
  insecureSkipVerify: boolean;
  minVersion?: string;
  maxVersion?: string;
}

/** One query_response step: read until `expect` matches a line (or `expectBytes`, latin1), then send `send` and a newline, then STARTTLS. */
export interface QueryStep {
  expect?: RegExp;
  expectBytes?: string;
  send?: string;
  /** `send` was !!binary: its characters are bytes (latin1). */
  sendBinary?: boolean;
  starttls: boolean;
  labels: { name: string; value: string }[];
}

/** sockprobe's extensions of a module, under its `sockprobe:` key. */
export interface ModuleExtras {
  /** A readiness check of issue 15 ('postgres', 'redis', ...), with its options. */
  check?: { name: string; options: Record<string, unknown> };
  /** probe()'s settle, ms (0: none). */
  settleMs: number;
  close: 'reset' | 'graceful';
}

interface ModuleBase {
  name: string;
  /** The module's `timeout`, ms; 0 when not set (the scrape timeout decides). */
  timeoutMs: number;
  tls: boolean;
  tlsConfig: TlsConfig;
  queryResponse: QueryStep[];
  sockprobe: ModuleExtras;
  /**
   * What runs on the connected socket (sockprobe's readiness checks): tcp.tls
   * with its tls_config as the tls check, or the module's sockprobe.check.
   * A tls check without server_name gets the target's host name per probe.
   */
  check?: CheckSpec;
  /** The module as written, for /probe?debug=true. */
  text: string;
  line: number;
}

export interface TcpModule extends ModuleBase {
  prober: 'tcp';
  preferredIpProtocol: IpProtocol;
  ipProtocolFallback: boolean;
  sourceIpAddress?: string;
}

export interface UnixModule extends ModuleBase {
  prober: 'unix';
}

/** prober: http, on sockprobe's http/https check (the target's scheme decides; http:// when it has none). */
export interface HttpModule extends ModuleBase {
  prober: 'http';
  preferredIpProtocol: IpProtocol;
  ipProtocolFallback: boolean;
  /** The http check's options (method, headers, status, body, bodyNot); path and host come from the target URL. */
  http: HttpCheckOptions;
  /** tls_config as the tls check's options, for https:// targets. */
  tlsOptions: TlsCheckOptions;
}

export type Module = TcpModule | UnixModule | HttpModule;

/** One allowlist entry: hosts (CIDRs, addresses, name patterns) with ports, or Unix socket path patterns. */
export interface AllowRule {
  /** Addresses and CIDRs of the rule (null: none). */
  addresses: BlockList | null;
  /** Name patterns ('*.db.internal'), compiled. */
  names: RegExp[];
  /** ports[p] === 1 when port p is allowed. */
  ports: Uint8Array;
  /** Unix socket path patterns, compiled. */
  paths: RegExp[];
  /** The rule as written, for messages. */
  text: string;
}

export interface Limits {
  /** Most probes in flight for one client address (0: no limit). */
  concurrentPerClient: number;
  /** Sustained /probe requests per second from one client address (0: no limit). */
  requestsPerSecond: number;
  /** Requests one client may make at once above the sustained rate. */
  burst: number;
}

export interface Safety {
  /** null: no allowlist configured, every target is allowed (blackbox_exporter's behaviour). */
  allow: AllowRule[] | null;
  limits: Limits;
}

export interface ExporterConfig {
  modules: Map<string, Module>;
  safety: Safety;
}

export const DEFAULT_LIMITS: Readonly<Limits> = { concurrentPerClient: 100, requestsPerSecond: 1000, burst: 2000 };

/** A configuration that cannot be used: the message names the file, the line and the module. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** blackbox_exporter's http keys sockprobe's http check serves; any other is refused, named. */
const HTTP_KEYS = new Set(['method', 'headers', 'valid_status_codes', 'fail_if_body_matches_regexp', 'fail_if_body_not_matches_regexp', 'tls_config', 'preferred_ip_protocol', 'ip_protocol_fallback']);
const NOT_SOCKPROBE = new Set(['icmp', 'dns', 'grpc', 'websocket']);
const MODULE_KEYS = new Set(['prober', 'timeout', 'http', 'tcp', 'icmp', 'dns', 'grpc', 'unix', 'websocket', 'sockprobe']);
const TCP_KEYS = new Set(['preferred_ip_protocol', 'ip_protocol_fallback', 'source_ip_address', 'query_response', 'tls', 'tls_config']);
const UNIX_KEYS = new Set(['query_response', 'tls', 'tls_config']);
const TLS_KEYS = new Set(['ca', 'ca_file', 'ca_ref', 'cert', 'cert_file', 'cert_ref', 'key', 'key_file', 'key_ref', 'server_name', 'insecure_skip_verify', 'min_version', 'max_version']);
const QR_KEYS = new Set(['expect', 'expect_bytes', 'labels', 'send', 'starttls']);
const EXTRA_KEYS = new Set(['check', 'settle', 'close']);
const TLS_VERSIONS = new Set(['TLS10', 'TLS11', 'TLS12', 'TLS13']);

type Where = (node: YamlNode | null | undefined) => string;

/** Go's time.ParseDuration, as blackbox_exporter reads `timeout`: '5s', '1m30s', '1.5s', '300ms'. Returns ms. */
export function parseGoDuration(text: string): number | undefined {
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) return undefined;
    ms += Number(m[1]) * (unitMs[m[2] as string] as number);
    at = re.lastIndex;
  }
  return at === 0 ? undefined : ms;
}

/** A glob ('*' any run of characters, '?' one), anchored, case-insensitive for names. */
function glob(pattern: string, ignoreCase: boolean): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, ignoreCase ? 'i' : '');
}

class Reader {
  readonly lines = new LineCounter();

  constructor(readonly file: string) {}

  /** A file a module names (ca_file, ...), relative to the configuration's directory as blackbox_exporter reads it. */
  readFile(node: YamlNode | null | undefined, what: string, name: string): string {
    const f = path.resolve(path.dirname(this.file), name);
    try {
      return fs.readFileSync(f, 'utf8');
    } catch (error) {
      return this.fail(node, `${what}: cannot read ${f}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  line(node: YamlNode | null | undefined): number {
    const offset = node?.range?.[0];
    return offset === undefined ? 0 : this.lines.linePos(offset).line;
  }

  where: Where = (node) => {
    const line = this.line(node);
    return line > 0 ? `${this.file}:${line}` : this.file;
  };

  fail(node: YamlNode | null | undefined, text: string): never {
    throw new ConfigError(`${this.where(node)}: ${text}`);
  }

  /** The key/value pairs of a mapping node (an error naming `what` when it is not one). */
  entries(node: unknown, what: string): Array<[string, YamlNode | null, YamlNode]> {
    if (node === null || node === undefined) return [];
    if (!isMap(node)) this.fail(node as YamlNode, `${what} must be a mapping`);
    return node.items.map((pair) => {
      const key = pair.key as YamlNode;
      if (!isScalar(key)) this.fail(key, `${what}: keys must be plain words`);
      return [String(key.value), pair.value as YamlNode | null, key];
    });
  }

  known(entries: Array<[string, YamlNode | null, YamlNode]>, keys: ReadonlySet<string>, what: string): void {
    for (const [k, , node] of entries) {
      if (!keys.has(k)) this.fail(node, `${what}: unknown field '${k}' (known: ${[...keys].join(', ')})`);
    }
  }

  scalar(node: YamlNode | null, what: string): unknown {
    if (node === null) return null;
    if (!isScalar(node)) this.fail(node, `${what} must be a single value`);
    return node.value;
  }

  string(node: YamlNode | null, what: string): string {
    const v = this.scalar(node, what);
    if (v === null) return '';
    // !!binary (blackbox_exporter's own example sends a PostgreSQL SSLRequest so): its bytes.
    if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
    if (typeof v !== 'string') this.fail(node, `${what} must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(node: YamlNode | null, what: string): boolean {
    const v = this.scalar(node, what);
    if (v === null) return false;
    if (typeof v !== 'boolean') this.fail(node, `${what} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  count(node: YamlNode | null, what: string): number {
    const v = this.scalar(node, what);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 1e9) this.fail(node, `${what} must be a whole number from 0 to 1e9, got ${JSON.stringify(v)}`);
    return v;
  }

  duration(node: YamlNode | null, what: string): number {
    const v = this.scalar(node, what);
    if (v === null || v === 0) return 0;
    const ms = typeof v === 'string' ? parseGoDuration(v) : undefined;
    if (ms === undefined) this.fail(node, `${what} must be a duration such as 5s, 1m30s or 500ms, got ${JSON.stringify(v)}`);
    if (ms > 2 ** 31 - 1) this.fail(node, `${what} is too long (${v}); at most 596h`);
    return ms;
  }

  list(node: YamlNode | null, what: string): YamlNode[] {
    if (node === null) return [];
    if (isSeq(node)) return node.items as YamlNode[];
    return this.fail(node, `${what} must be a list`);
  }
}

function tlsConfig(r: Reader, node: YamlNode | null, what: string): TlsConfig {
  const e = r.entries(node, what);
  r.known(e, TLS_KEYS, what);
  const c: TlsConfig = { insecureSkipVerify: false };
  for (const [k, v] of e) {
    const w = `${what}.${k}`;
    switch (k) {
      case 'ca':
        c.ca = r.string(v, w);
        break;
      case 'ca_file':
        c.caFile = r.string(v, w);
        break;
      case 'cert':
        c.cert = r.string(v, w);
        break;
      case 'cert_file':
        c.certFile = r.string(v, w);
        break;
      case 'key':
        c.key = r.string(v, w);
        break;
      case 'key_file':
        c.keyFile = r.string(v, w);
        break;
      case 'server_name':
        c.serverName = r.string(v, w);
        break;
      case 'insecure_skip_verify':
        c.insecureSkipVerify = r.bool(v, w);
        break;
      case 'min_version':
      case 'max_version': {
        const s = r.string(v, w);
        if (!TLS_VERSIONS.has(s)) r.fail(v, `${w} must be one of ${[...TLS_VERSIONS].join(', ')}, got '${s}'`);
        if (k === 'min_version') c.minVersion = s;
        else c.maxVersion = s;
        break;
      }
      default:
        // ca_ref, cert_ref, key_ref: secret references of prometheus/common's secret manager.
        r.fail(v, `${w}: secret references are not supported by sockprobe; use ${k.replace('_ref', '_file')}`);
    }
  }
  return c;
}

/** blackbox_exporter's tls_config as the options of sockprobe's tls check (files read now). */
function tlsCheckOptions(r: Reader, c: TlsConfig, node: YamlNode | null | undefined, what: string): TlsCheckOptions {
  if (c.minVersion !== undefined || c.maxVersion !== undefined)
    r.fail(node, `${what}: min_version and max_version are not supported by sockprobe's tls check (it takes what Node and OpenSSL negotiate, TLS 1.2 or later by default)`);
  const o: { -readonly [K in keyof TlsCheckOptions]: TlsCheckOptions[K] } = {};
  if (c.serverName !== undefined && c.serverName !== '') o.servername = c.serverName;
  const ca = c.ca ?? (c.caFile === undefined ? undefined : r.readFile(node, `${what}.ca_file`, c.caFile));
  if (ca !== undefined) o.ca = ca;
  const cert = c.cert ?? (c.certFile === undefined ? undefined : r.readFile(node, `${what}.cert_file`, c.certFile));
  if (cert !== undefined) o.cert = cert;
  const key = c.key ?? (c.keyFile === undefined ? undefined : r.readFile(node, `${what}.key_file`, c.keyFile));
  if (key !== undefined) o.key = key;
  if (c.insecureSkipVerify) o.insecure = true;
  return o;
}

/**
 * blackbox_exporter's query_response as send-expect steps. blackbox runs a
 * step as: read lines until `expect` matches (or read `expect_bytes`), set
 * its `labels` from the match, send `send` (expanded from the match) and a
 * newline, then upgrade to TLS when `starttls`. send-expect's step sends
 * first, then expects, then sends its expanded `reply`: a blackbox step is
 * one or two of them (expect_bytes then send: two). Labels without an expect
 * do nothing in blackbox: they are left out.
 */
function sendExpectSteps(r: Reader, steps: readonly QueryStep[], node: YamlNode | null | undefined, what: string): Step[] {
  const out: Step[] = [];
  for (const q of steps) {
    const text = q.send === undefined || q.send === '' ? undefined : `${q.send}\n`;
    const send = text !== undefined && q.sendBinary === true ? Buffer.from(text, 'latin1') : text;
    if (q.expect !== undefined) {
      const step: Step = { expect: q.expect };
      if (q.labels.length > 0) step.labels = Object.fromEntries(q.labels.map((l) => [l.name, l.value]));
      if (text !== undefined) step.reply = text;
      out.push(step);
    } else {
      if (q.expectBytes !== undefined) out.push({ expectBytes: Buffer.from(q.expectBytes, 'latin1') });
      if (send !== undefined) out.push({ send });
    }
    if (q.starttls) {
      const last = out[out.length - 1];
      if (last === undefined || last.starttls === true) out.push({ starttls: true });
      else out[out.length - 1] = { ...last, starttls: true };
    }
  }
  if (out.length === 0) r.fail(node, `${what}: no step sends or expects anything`);
  return out;
}

/**
 * A Go (RE2) regular expression as a RegExp. RE2 lets an anchor be repeated
 * (Debian's default blackbox.yml has "^+OK"), which JavaScript refuses: such
 * an anchor becomes a group, (?:^)+, which means the same.
 */
function goRegExp(source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (error) {
    const again = source.replace(/(^|[^\\[])([$^])(?=[+*?{])/g, '$1(?:$2)');
    if (again === source) throw error;
    return new RegExp(again);
  }
}

function queryResponse(r: Reader, node: YamlNode | null, what: string): QueryStep[] {
  return r.list(node, what).map((item, i) => {
    const w = `${what}[${i}]`;
    const e = r.entries(item, w);
    r.known(e, QR_KEYS, w);
    const step: QueryStep = { starttls: false, labels: [] };
    for (const [k, v] of e) {
      switch (k) {
        case 'expect': {
          // Go's RE2 names a group (?P<name>...); JavaScript (?<name>...).
          const s = r.string(v, `${w}.expect`).replace(/\(\?P</g, '(?<');
          try {
            step.expect = goRegExp(s);
          } catch (error) {
            r.fail(v, `${w}.expect is not a regular expression: ${(error as Error).message}`);
          }
          break;
        }
        case 'expect_bytes': {
          // Go's []byte(string): a plain string's UTF-8 bytes; !!binary's bytes as they are. Kept as latin1 (a byte a character).
          const raw = r.scalar(v, `${w}.expect_bytes`);
          step.expectBytes = raw instanceof Uint8Array ? Buffer.from(raw).toString('latin1') : Buffer.from(r.string(v, `${w}.expect_bytes`), 'utf8').toString('latin1');
          if (step.expectBytes === '') r.fail(v, `${w}.expect_bytes is empty`);
          break;
        }
        case 'send':
          step.send = r.string(v, `${w}.send`);
          // !!binary (read as latin1, a byte a character) is sent as those bytes; a plain string as UTF-8.
          if (r.scalar(v, `${w}.send`) instanceof Uint8Array) step.sendBinary = true;
          break;
        case 'starttls':
          step.starttls = r.bool(v, `${w}.starttls`);
          break;
        case 'labels':
          step.labels = r.list(v, `${w}.labels`).map((l, j) => {
            const le = new Map(r.entries(l, `${w}.labels[${j}]`).map(([lk, lv]) => [lk, lv]));
            const name = r.string(le.get('name') ?? null, `${w}.labels[${j}].name`);
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) r.fail(l, `${w}.labels[${j}].name must be a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*), got '${name}'`);
            return { name, value: r.string(le.get('value') ?? null, `${w}.labels[${j}].value`) };
          });
          break;
      }
    }
    if (step.expect !== undefined && step.expectBytes !== undefined) r.fail(item, `${w}: expect and expect_bytes are mutually exclusive`);
    return step;
  });
}

function moduleExtras(r: Reader, node: YamlNode | null, what: string): ModuleExtras {
  const e = r.entries(node, what);
  r.known(e, EXTRA_KEYS, what);
  const x: ModuleExtras = { settleMs: 0, close: 'reset' };
  for (const [k, v] of e) {
    const w = `${what}.${k}`;
    if (k === 'settle') x.settleMs = r.duration(v, w);
    else if (k === 'close') {
      const c = r.string(v, w);
      if (c !== 'reset' && c !== 'graceful') r.fail(v, `${w} must be reset or graceful, got '${c}'`);
      x.close = c;
    } else if (k === 'check') {
      // `check: redis` or `check: { name: postgres, ...options }`
      if (isScalar(v)) x.check = { name: r.string(v, w), options: {} };
      else {
        const opts: Record<string, unknown> = {};
        let name = '';
        for (const [ck, cv] of r.entries(v, w)) {
          if (ck === 'name') name = r.string(cv, `${w}.name`);
          else opts[ck] = cv === null ? null : (cv as { toJSON(): unknown }).toJSON();
        }
        if (name === '') r.fail(v, `${w}: name the check (name: postgres)`);
        x.check = { name, options: opts };
      }
    }
  }
  return x;
}

function readModule(r: Reader, name: string, node: YamlNode | null, keyNode: YamlNode): Module {
  const what = `module "${name}"`;
  const e = r.entries(node, what);
  if (e.length === 0) r.fail(keyNode, `${what} is empty: it needs at least 'prober: tcp'`);
  r.known(e, MODULE_KEYS, what);
  const get = (k: string): YamlNode | null | undefined => e.find(([key]) => key === k)?.[1];
  const proberNode = get('prober');
  const prober = proberNode === undefined ? '' : r.string(proberNode, `${what}: prober`);
  const at = proberNode ?? keyNode;
  if (prober === '') r.fail(keyNode, `${what} has no prober (sockprobe serves prober: tcp, unix and http)`);
  if (NOT_SOCKPROBE.has(prober))
    r.fail(at, `${what}: prober '${prober}' is not served by sockprobe, which probes TCP and Unix sockets (prober: tcp, unix, and http on its http check); serve this module with blackbox_exporter`);
  if (prober === 'http') return httpModule(r, name, node, keyNode, get);
  if (prober !== 'tcp' && prober !== 'unix') r.fail(at, `${what}: prober '${prober}' is not valid (blackbox_exporter's are http, tcp, icmp, dns, grpc, unix, websocket)`);
  const timeoutNode = get('timeout');
  const timeoutMs = timeoutNode === undefined ? 0 : r.duration(timeoutNode, `${what}: timeout`);
  const section = get(prober) ?? null;
  const se = r.entries(section, `${what}: ${prober}`);
  r.known(se, prober === 'tcp' ? TCP_KEYS : UNIX_KEYS, `${what}: ${prober}`);
  const sget = (k: string): YamlNode | null | undefined => se.find(([key]) => key === k)?.[1];
  const has = (k: string): YamlNode | null | undefined => sget(k);
  const base: ModuleBase = {
    name,
    timeoutMs,
    tls: has('tls') === undefined ? false : r.bool(has('tls') ?? null, `${what}: ${prober}.tls`),
    tlsConfig: has('tls_config') === undefined ? { insecureSkipVerify: false } : tlsConfig(r, has('tls_config') ?? null, `${what}: ${prober}.tls_config`),
    queryResponse: has('query_response') === undefined ? [] : queryResponse(r, has('query_response') ?? null, `${what}: ${prober}.query_response`),
    sockprobe: get('sockprobe') === undefined ? { settleMs: 0, close: 'reset' } : moduleExtras(r, get('sockprobe') ?? null, `${what}: sockprobe`),
    text: stringify(node === null ? {} : (node as { toJSON(): unknown }).toJSON()),
    line: r.line(keyNode),
  };
  // tcp.tls is sockprobe's tls check, with tls_config as its options; query_response is its send-expect check (after TLS when tls is on, or with TLS after its starttls step).
  if (base.tls || base.queryResponse.length > 0) {
    if (base.sockprobe.check !== undefined)
      r.fail(get('sockprobe'), `${what}: ${prober}.tls/query_response and sockprobe.check both ask for a check; keep one (sockprobe.check: { name: https } does TLS too)`);
    // A starttls step upgrades with tls_config too (blackbox's own example runs it without tcp.tls).
    const starttls = base.queryResponse.some((q) => q.starttls);
    if (starttls && base.tls) r.fail(has('tls'), `${what}: ${prober}.tls and a query_response step with starttls: TLS from the start and TLS again later; keep one`);
    const tls = base.tls || starttls ? tlsCheckOptions(r, base.tlsConfig, has('tls_config') ?? has('tls') ?? has('query_response'), `${what}: ${prober}.tls_config`) : undefined;
    if (base.queryResponse.length === 0) base.check = { tls: tls ?? {} };
    else {
      const steps = sendExpectSteps(r, base.queryResponse, has('query_response'), `${what}: ${prober}.query_response`);
      const spec = { 'send-expect': { steps, ...(tls === undefined ? {} : { tls }) } };
      try {
        checkPlan(spec, 'check');
      } catch (error) {
        r.fail(has('query_response'), `${what}: ${prober}.query_response: ${(error as Error).message}`);
      }
      base.check = spec;
    }
  } else if (base.sockprobe.check !== undefined) {
    const spec = { [base.sockprobe.check.name]: base.sockprobe.check.options };
    try {
      checkPlan(spec, 'check');
    } catch (error) {
      r.fail(get('sockprobe'), `${what}: sockprobe.check: ${(error as Error).message}`);
    }
    base.check = spec as CheckSpec;
  }
  if (prober === 'unix') return { ...base, prober };
  const ipNode = has('preferred_ip_protocol');
  const ip = ipNode === undefined ? '' : r.string(ipNode, `${what}: tcp.preferred_ip_protocol`);
  if (ip !== '' && ip !== 'ip4' && ip !== 'ip6') r.fail(ipNode, `${what}: tcp.preferred_ip_protocol must be ip4 or ip6, got '${ip}'`);
  const fbNode = has('ip_protocol_fallback');
  const srcNode = has('source_ip_address');
  const src = srcNode === undefined ? '' : r.string(srcNode, `${what}: tcp.source_ip_address`);
  if (src !== '' && isIP(src) === 0) r.fail(srcNode, `${what}: tcp.source_ip_address must be a numeric IPv4 or IPv6 address, got '${src}'`);
  return {
    ...base,
    prober,
    preferredIpProtocol: ip === 'ip4' ? 'ip4' : 'ip6',
    // blackbox_exporter's default is true (DefaultTCPProbe).
    ipProtocolFallback: fbNode === undefined ? true : r.bool(fbNode, `${what}: tcp.ip_protocol_fallback`),
    ...(src === '' ? {} : { sourceIpAddress: src }),
  };
}

/** A list of Go regular expressions as one RegExp: every one must match (all: true), or any. */
function regexList(r: Reader, node: YamlNode | null, what: string, all: boolean): RegExp | undefined {
  const list = r.list(node, what).map((n, i) => {
    try {
      return goRegExp(r.string(n, `${what}[${i}]`).replace(/\(\?P</g, '(?<')).source;
    } catch (error) {
      return r.fail(n, `${what}[${i}] is not a regular expression: ${(error as Error).message}`);
    }
  });
  if (list.length === 0) return undefined;
  return new RegExp(all ? list.map((x) => `(?=[\\s\\S]*?(?:${x}))`).join('') : list.map((x) => `(?:${x})`).join('|'));
}

/** prober: http. Only the keys sockprobe's http check serves; redirects are not followed (blackbox follows them). */
function httpModule(r: Reader, name: string, node: YamlNode | null, keyNode: YamlNode, get: (k: string) => YamlNode | null | undefined): HttpModule {
  const what = `module "${name}"`;
  const timeoutNode = get('timeout');
  const timeoutMs = timeoutNode === undefined ? 0 : r.duration(timeoutNode, `${what}: timeout`);
  const section = get('http') ?? null;
  const se = r.entries(section, `${what}: http`);
  const unknown = se.filter(([k]) => !HTTP_KEYS.has(k));
  if (unknown.length > 0)
    r.fail(unknown[0]?.[2], `${what}: http: ${unknown.map(([k]) => k).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not served by sockprobe's http check (it serves ${[...HTTP_KEYS].join(', ')}); serve this module with blackbox_exporter`);
  const sget = (k: string): YamlNode | null => se.find(([key]) => key === k)?.[1] ?? null;
  const has = (k: string): boolean => se.some(([key]) => key === k);
  const http: { -readonly [K in keyof HttpCheckOptions]: HttpCheckOptions[K] } = {};
  if (has('method')) http.method = r.string(sget('method'), `${what}: http.method`);
  if (has('headers')) {
    const headers: Record<string, string> = {};
    for (const [k, v] of r.entries(sget('headers'), `${what}: http.headers`)) headers[k] = r.string(v, `${what}: http.headers.${k}`);
    http.headers = headers;
  }
  // blackbox: any 2xx when valid_status_codes is empty.
  const codes = r.list(sget('valid_status_codes'), `${what}: http.valid_status_codes`).map((n, i) => r.count(n, `${what}: http.valid_status_codes[${i}]`));
  http.status = codes.length === 0 ? '200-299' : codes.join(',');
  const body = regexList(r, sget('fail_if_body_not_matches_regexp'), `${what}: http.fail_if_body_not_matches_regexp`, true);
  if (body !== undefined) http.body = body;
  const bodyNot = regexList(r, sget('fail_if_body_matches_regexp'), `${what}: http.fail_if_body_matches_regexp`, false);
  if (bodyNot !== undefined) http.bodyNot = bodyNot;
  const tlsConfigValue = has('tls_config') ? tlsConfig(r, sget('tls_config'), `${what}: http.tls_config`) : { insecureSkipVerify: false };
  const ip = has('preferred_ip_protocol') ? r.string(sget('preferred_ip_protocol'), `${what}: http.preferred_ip_protocol`) : '';
  if (ip !== '' && ip !== 'ip4' && ip !== 'ip6') r.fail(sget('preferred_ip_protocol'), `${what}: http.preferred_ip_protocol must be ip4 or ip6, got '${ip}'`);
  const m: HttpModule = {
    name,
    prober: 'http',
    timeoutMs,
    tls: false,
    tlsConfig: tlsConfigValue,
    queryResponse: [],
    sockprobe: get('sockprobe') === undefined ? { settleMs: 0, close: 'reset' } : moduleExtras(r, get('sockprobe') ?? null, `${what}: sockprobe`),
    text: stringify(node === null ? {} : (node as { toJSON(): unknown }).toJSON()),
    line: r.line(keyNode),
    preferredIpProtocol: ip === 'ip4' ? 'ip4' : 'ip6',
    ipProtocolFallback: has('ip_protocol_fallback') ? r.bool(sget('ip_protocol_fallback'), `${what}: http.ip_protocol_fallback`) : true,
    http,
    tlsOptions: tlsCheckOptions(r, tlsConfigValue, sget('tls_config'), `${what}: http.tls_config`),
  };
  if (m.sockprobe.check !== undefined) r.fail(get('sockprobe'), `${what}: prober http is sockprobe's http check already; sockprobe.check is for tcp modules`);
  try {
    checkPlan({ https: { ...http, tls: m.tlsOptions } }, 'check');
  } catch (error) {
    r.fail(section, `${what}: http: ${(error as Error).message}`);
  }
  return m;
}

function portSpec(r: Reader, node: YamlNode | null, what: string): Uint8Array {
  const ports = new Uint8Array(65536);
  if (node === null) {
    ports.fill(1, 1);
    return ports;
  }
  const v = r.scalar(node, what);
  const spec = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : r.fail(node, `${what} must be a port list such as '5432' or '1-1024,8080'`);
  try {
    for (const p of parsePorts(spec)) ports[p] = 1;
  } catch (error) {
    r.fail(node, `${what}: ${(error as Error).message}`);
  }
  return ports;
}

function allowRule(r: Reader, node: YamlNode, i: number): AllowRule {
  const what = `sockprobe.allow[${i}]`;
  const e = r.entries(node, what);
  r.known(e, new Set(['hosts', 'ports', 'paths']), what);
  const get = (k: string): YamlNode | null => e.find(([key]) => key === k)?.[1] ?? null;
  const rule: AllowRule = { addresses: null, names: [], ports: portSpec(r, get('ports'), `${what}.ports`), paths: [], text: '' };
  for (const [j, h] of r.list(get('hosts'), `${what}.hosts`).entries()) {
    const w = `${what}.hosts[${j}]`;
    const s = r.string(h, w).trim();
    const slash = s.indexOf('/');
    const addr = slash === -1 ? s.replace(/^\[(.*)\]$/, '$1') : s.slice(0, slash);
    const family = isIP(addr);
    if (family !== 0) {
      const prefix = slash === -1 ? (family === 4 ? 32 : 128) : Number(s.slice(slash + 1));
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) r.fail(h, `${w}: '${s}' has a bad prefix length`);
      rule.addresses ??= new BlockList();
      rule.addresses.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
    } else if (slash !== -1 || !/^[A-Za-z0-9.*?_-]+$/.test(s)) {
      r.fail(h, `${w}: '${s}' is neither an address, a CIDR (10.0.0.0/8, 2001:db8::/32) nor a host name pattern (*.db.internal)`);
    } else rule.names.push(glob(s, true));
  }
  for (const [j, p] of r.list(get('paths'), `${what}.paths`).entries()) {
    const s = r.string(p, `${what}.paths[${j}]`);
    if (!s.startsWith('/')) r.fail(p, `${what}.paths[${j}]: a Unix socket path pattern must be absolute, got '${s}'`);
    rule.paths.push(glob(s, false));
  }
  if (rule.addresses === null && rule.names.length === 0 && rule.paths.length === 0) r.fail(node, `${what} allows nothing: give hosts (with ports) or paths`);
  rule.text = JSON.stringify((node as { toJSON(): unknown }).toJSON());
  return rule;
}

function readSafety(r: Reader, node: YamlNode | null): Safety {
  const e = r.entries(node, 'sockprobe');
  r.known(e, new Set(['allow', 'limits']), 'sockprobe');
  const get = (k: string): YamlNode | null | undefined => e.find(([key]) => key === k)?.[1];
  const allowNode = get('allow');
  const allow = allowNode === undefined ? null : r.list(allowNode, 'sockprobe.allow').map((n, i) => allowRule(r, n, i));
  const limits: Limits = { ...DEFAULT_LIMITS };
  const le = r.entries(get('limits') ?? null, 'sockprobe.limits');
  r.known(le, new Set(['concurrent_per_client', 'requests_per_second', 'burst']), 'sockprobe.limits');
  let burstSet = false;
  for (const [k, v] of le) {
    const n = r.count(v, `sockprobe.limits.${k}`);
    if (k === 'concurrent_per_client') limits.concurrentPerClient = n;
    else if (k === 'requests_per_second') limits.requestsPerSecond = n;
    else {
      limits.burst = n;
      burstSet = true;
    }
  }
  if (!burstSet) limits.burst = Math.max(1, limits.requestsPerSecond * 2);
  if (limits.requestsPerSecond > 0 && limits.burst < 1) r.fail(get('limits'), 'sockprobe.limits.burst must be at least 1 when requests_per_second is set');
  return { allow, limits };
}

function parse(text: string, file: string): { r: Reader; root: Array<[string, YamlNode | null, YamlNode]>; doc: ReturnType<typeof parseDocument> } {
  const r = new Reader(file);
  const doc = parseDocument(text, { lineCounter: r.lines, uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err !== undefined) {
    const line = err.linePos?.[0]?.line ?? r.lines.linePos(err.pos[0]).line;
    throw new ConfigError(`${line === undefined ? file : `${file}:${line}`}: not valid YAML: ${err.message.split('\n')[0] ?? ''}`);
  }
  return { r, root: r.entries(doc.contents, 'the configuration'), doc };
}

/** Parses a configuration's text; ConfigError (naming file, line, module) when it cannot be used. */
export function parseConfig(text: string, file = 'config', safetyText?: { text: string; file: string }): ExporterConfig {
  const { r, root } = parse(text, file);
  r.known(root, new Set(['modules', 'sockprobe']), 'the configuration');
  const modules = new Map<string, Module>();
  const modulesNode = root.find(([k]) => k === 'modules');
  for (const [name, node, key] of r.entries(modulesNode?.[1] ?? null, 'modules')) modules.set(name, readModule(r, name, node, key));
  const own = root.find(([k]) => k === 'sockprobe');
  let safety = own === undefined ? null : readSafety(r, own[1]);
  if (safetyText !== undefined) {
    if (safety !== null) throw new ConfigError(`${file}: has a sockprobe: section and ${safetyText.file} is given too; keep one`);
    const s = parse(safetyText.text, safetyText.file);
    // The separate file holds the section itself, or a document with a sockprobe: key.
    const inner = s.root.length === 1 && s.root[0]?.[0] === 'sockprobe' ? s.root[0][1] : (s.doc.contents as YamlNode | null);
    safety = readSafety(s.r, inner);
  }
  return { modules, safety: safety ?? { allow: null, limits: { ...DEFAULT_LIMITS } } };
}

/** Reads and parses the configuration file (and the separate sockprobe section file, if any). */
export function loadConfig(file: string, safetyFile?: string): ExporterConfig {
  const read = (f: string): string => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch (error) {
      throw new ConfigError(`${f}: cannot read the configuration: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return parseConfig(read(file), file, safetyFile === undefined ? undefined : { text: read(safetyFile), file: safetyFile });
}
