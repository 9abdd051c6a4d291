// `sockprobe exporter`: blackbox_exporter's flags, its configuration file,
// its HTTP interface. Runs until SIGINT or SIGTERM; SIGHUP rereads the
// configuration (as POST /-/reload does), keeping the old one when the new
// one cannot be used.
import { UsageError, parseOptions } from '../cli/options';
import type { CliIO } from '../cli/output';
import type * as Config from './config';
import type * as Server from './server';

// The configuration and the server (and through them the native addon) are
// loaded when the command runs, not when the CLI starts: `sockprobe --help`
// works without a binary.
/* eslint-disable @typescript-eslint/no-require-imports */
const config = (): typeof Config => require('./config') as typeof Config;
const server = (): typeof Server => require('./server') as typeof Server;
/* eslint-enable @typescript-eslint/no-require-imports */

export const EXPORTER_USAGE = `Usage: sockprobe exporter [options]

A drop-in for blackbox_exporter's TCP probing that says why: the same
configuration file (modules with prober: tcp or unix), the same /probe
interface, blackbox's series plus sockprobe_probe_status{status,reason}.

Options:
  --config.file FILE            configuration file (default blackbox.yml)
  --sockprobe.config.file FILE  sockprobe's section (allow, limits) in a file of its own,
                                so the configuration stays loadable by blackbox_exporter
  --web.listen-address ADDR     where to listen (default :9115)
  --timeout-offset SECONDS      taken off Prometheus's scrape timeout (default 0.5)
  --config.check                check the configuration and exit
  -h, --help                    show this help

Endpoints: /probe?target=HOST:PORT&module=NAME[&debug=true], /metrics,
/-/healthy, POST /-/reload (and SIGHUP).
`;

export interface ExporterSettings {
  configFile: string;
  safetyFile: string | undefined;
  host: string | undefined;
  port: number;
  timeoutOffset: number;
  check: boolean;
}

/** ':9115', '127.0.0.1:0', '[::1]:9115' -> host (undefined: every address) and port. */
export function parseListenAddress(text: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw new UsageError(`--web.listen-address takes [HOST]:PORT (':9115', '127.0.0.1:9115', '[::1]:9115'), got '${text}'`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

export function parseExporterCommandLine(argv: readonly string[]): { kind: 'help' } | { kind: 'run'; settings: ExporterSettings } {
  const { values, positionals } = parseOptions(argv, {
    'config.file': { type: 'string' },
    'sockprobe.config.file': { type: 'string' },
    'web.listen-address': { type: 'string' },
    'timeout-offset': { type: 'string' },
    'config.check': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return { kind: 'help' };
  const extra = positionals.filter((p) => p !== 'exporter');
  if (extra.length > 0 || positionals.length !== 1) throw new UsageError(`exporter takes no arguments, got '${extra.join(' ')}'`);
  const offsetText = values['timeout-offset'] ?? '0.5';
  const timeoutOffset = Number(offsetText);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(offsetText) || timeoutOffset > 3600) throw new UsageError(`--timeout-offset takes seconds from 0 to 3600, got '${offsetText}'`);
  const { host, port } = parseListenAddress(values['web.listen-address'] ?? ':9115');
  return {
    kind: 'run',
    settings: {
      configFile: values['config.file'] ?? 'blackbox.yml',
      safetyFile: values['sockprobe.config.file'],
      host,
      port,
      timeoutOffset,
      check: values['config.check'] === true,
    },
  };
}

/** Serves until `signal` aborts or SIGTERM; resolves with the exit status (1: the configuration or the address cannot be used). */
export async function runExporter(s: ExporterSettings, io: CliIO, signal: AbortSignal): Promise<number> {
  const log = (line: string): void => {
    io.stderr.write(`${line}\n`);
  };
  const { ConfigError, loadConfig } = config();
  if (s.check) {
    try {
      const c = loadConfig(s.configFile, s.safetyFile);
      io.stdout.write(`Config file is ok: ${c.modules.size} module(s), ${c.safety.allow === null ? 'no allowlist' : `${c.safety.allow.length} allowlist rule(s)`}\n`);
      return 0;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      io.stderr.write(`sockprobe exporter: ${error.message}\n`);
      return 1;
    }
  }
  let exporter;
  try {
    exporter = server().createExporter({ configFile: s.configFile, safetyFile: s.safetyFile, timeoutOffset: s.timeoutOffset, log });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(`sockprobe exporter: ${error.message}\n`);
    return 1;
  }
  const onHup = (): void => {
    try {
      exporter.reload();
    } catch (error) {
      log(`ts=${new Date().toISOString()} level=error msg="Error reloading config" err=${JSON.stringify(error instanceof Error ? error.message : String(error))}`);
    }
  };
  // Before listening: a SIGHUP sent as soon as the address is logged must find the handler.
  process.on('SIGHUP', onHup);
  try {
    await exporter.listen(s.host, s.port);
  } catch (error) {
    process.removeListener('SIGHUP', onHup);
    io.stderr.write(`sockprobe exporter: cannot listen on ${s.host ?? ''}:${s.port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
    return 1;
  }
  let stop = (): void => undefined;
  await new Promise<void>((resolve) => {
    stop = resolve;
    if (signal.aborted) resolve();
    signal.addEventListener('abort', stop, { once: true });
    process.once('SIGTERM', stop);
  });
  signal.removeEventListener('abort', stop);
  process.removeListener('SIGTERM', stop);
  process.removeListener('SIGHUP', onHup);
  await exporter.close();
  return 0;
}
