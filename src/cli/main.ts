// The `sockprobe` command: probe targets (exit 0 only when all are open, as
// Docker's HEALTHCHECK wants), wait for them, explain what is wrong, scan
// a host's ports, or trace which hop stops a connection. This file picks the
// command; each has a file of its own.
import { parseArgs } from 'node:util';
import { AbortError } from '../errors';
import { DEFAULT_TIMEOUT_MS, DEFAULT_WAIT_TIMEOUT_MS, parseCommandLine, type Parsed } from './command-line';
import { EXIT_INTERRUPTED, EXIT_NOT_OPEN, EXIT_OPEN, EXIT_USAGE } from './exit-codes';
import { runExplain } from './explain';
import { UsageError } from './options';
import type { CliIO } from './output';
import { runProbe } from './probe';
import { parseScanCommandLine, runScan } from './scan';
import { parseTraceCommandLine, runTrace } from './trace';
import { versionText } from './version';
import { EXPORTER_USAGE, parseExporterCommandLine, runExporter } from '../exporter/cli';

export { parseCommandLine, type CliIO };

const USAGE = `Usage: sockprobe [options] TARGET...
       sockprobe explain [options] TARGET
       sockprobe scan [options] HOST -p PORTS
       sockprobe trace [options] HOST:PORT
       sockprobe exporter [--config.file FILE] [--web.listen-address :9115]

Connects to each TARGET and says what happened: open, refused, blocked by a
firewall, unreachable, timed out, a local error, or a name that did not resolve.
TARGET is host:port, [ipv6-address]:port or unix:/path/to.sock, or a URL whose
scheme names a readiness check run once connected: tls://host:443,
https://host/healthz, http://, redis://, postgres://user@host/db?sslmode=require,
mysql://, amqp://, mqtt://, nats://, smtp://, ftp://, ssh:// (default ports).
A target whose check fails is "not ready" (exit 1), with the service's answer.

Commands:
  explain TARGET   run the troubleshooting checklist: resolution, route, probe of
                   every address, listeners on the port (local targets), a trace of
                   an address that timed out or was rejected by ICMP (Linux), then
                   the likely cause and the next thing to check
                       --no-trace       leave the trace out (it can take up to --timeout)
  scan HOST        probe every port of -p PORTS on HOST (only the host you name), then
                   list the ports that did not refuse and a count per status
                   -p, --ports PORTS    ports and ranges, e.g. 1-1024,8080 (required)
                   -c, --concurrency N  most probes in flight at once (default 256)
                   -t, --timeout MS     deadline per port (default 1000)
                   -o, --open           list open ports only
                   also -4, -6, --json (every result and a summary), --quiet.
                   Exit 0 when the scan ran, whatever the ports said; 1 HOST does
                   not resolve; 2 usage error; 130 interrupted (partial summary)
  trace HOST:PORT  which hop stops the connection: connects with hop limits 1, 2, 3...
                   (Linux), one line per hop as traceroute prints them, then the verdict
                   -m, --max-hops N     highest hop limit (default 30)
                   -f, --first-hop N    first hop limit (default 1)
                       --tries N        tries per silent hop (default 2)
                   -t, --timeout MS     deadline of the whole trace (default 5000)
                   also -4, -6, --json, --quiet. Exit 0 when the port was reached and
                   is open, 1 otherwise, 2 usage error, 130 interrupted
  exporter         blackbox_exporter's /probe for Prometheus (tcp and unix modules), with
                   sockprobe's reasons: see 'sockprobe exporter --help'

Options:
  -t, --timeout MS  deadline in ms (default ${DEFAULT_TIMEOUT_MS}; with --wait, the whole wait: default ${DEFAULT_WAIT_TIMEOUT_MS})
  -w, --wait        retry until every target is open or --timeout passes, as waitFor()
                    does: backoff from 250 ms, x1.5 per attempt, capped at 2 s, with jitter
  -4                IPv4 addresses only
  -6                IPv6 addresses only
  -j, --json        print one JSON document
      --ca FILE     trust this CA (PEM) for TLS targets instead of the system roots
      --cert FILE, --key FILE   client certificate and key (PEM) for TLS targets
      --servername NAME  SNI and certificate name for TLS targets (default: the host, if a name)
  -k, --insecure    a TLS target whose certificate does not verify is still ready (still reported)
  -q, --quiet       print nothing; only the exit status speaks
  -h, --help        show this help
  -V, --version     show the version, the engine in use and the facts it can tell

Exit status: 0 every target is open (and ready), 1 otherwise, 2 usage error.
Colour only on a terminal, never when NO_COLOR is set.
`;

/** The first word that is not an option or an option's value: 'scan' picks the scan command. */
function commandWord(argv: readonly string[]): string | undefined {
  const { tokens } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: {
      timeout: { type: 'string', short: 't' },
      ports: { type: 'string', short: 'p' },
      concurrency: { type: 'string', short: 'c' },
      'max-hops': { type: 'string', short: 'm' },
      'first-hop': { type: 'string', short: 'f' },
      tries: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      servername: { type: 'string' },
    },
  });
  const first = tokens.find((t) => t.kind === 'positional' || t.kind === 'option-terminator');
  return first?.kind === 'positional' ? first.value : undefined;
}

/** Runs the command line `argv` (without node and script) and resolves with the exit status. */
export async function main(
  argv: readonly string[],
  io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env },
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
  const usage = (error: unknown): number => {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`sockprobe: ${error.message}\nTry 'sockprobe --help' for more information.\n`);
    return EXIT_USAGE;
  };
  const word = commandWord(argv);
  if (word === 'exporter') {
    let exporterParsed;
    try {
      exporterParsed = parseExporterCommandLine(argv);
    } catch (error) {
      return usage(error);
    }
    if (exporterParsed.kind === 'help') {
      io.stdout.write(EXPORTER_USAGE);
      return EXIT_OPEN;
    }
    return runExporter(exporterParsed.settings, io, signal);
  }
  if (word === 'trace') {
    let traceParsed;
    try {
      traceParsed = parseTraceCommandLine(argv);
    } catch (error) {
      return usage(error);
    }
    if (traceParsed.kind === 'help') {
      io.stdout.write(USAGE);
      return EXIT_OPEN;
    }
    try {
      return await runTrace(traceParsed.settings, io, signal);
    } catch (error) {
      if (error instanceof AbortError) return EXIT_INTERRUPTED;
      throw error;
    }
  }
  if (word === 'scan') {
    let scanParsed;
    try {
      scanParsed = parseScanCommandLine(argv);
    } catch (error) {
      return usage(error);
    }
    if (scanParsed.kind === 'help') {
      io.stdout.write(USAGE);
      return EXIT_OPEN;
    }
    try {
      return await runScan(scanParsed.settings, io, signal);
    } catch (error) {
      if (error instanceof AbortError) return EXIT_INTERRUPTED;
      throw error;
    }
  }
  let parsed: Parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (error) {
    return usage(error);
  }
  switch (parsed.kind) {
    case 'help':
      io.stdout.write(USAGE);
      return EXIT_OPEN;
    case 'version':
      io.stdout.write(versionText());
      return EXIT_OPEN;
    case 'run':
      try {
        return parsed.settings.command === 'explain'
          ? await runExplain(parsed.settings, io, signal)
          : await runProbe(parsed.settings, io, signal);
      } catch (error) {
        if (error instanceof AbortError) return EXIT_INTERRUPTED;
        throw error;
      }
  }
}

/** Entry point of bin/sockprobe: Ctrl-C aborts the probes (sockets closed at once) and exits 130. */
export function run(): void {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  main(process.argv.slice(2), undefined, controller.signal).then(
    (code) => {
      process.removeListener('SIGINT', onSigint);
      process.exitCode = code;
    },
    (error: unknown) => {
      process.removeListener('SIGINT', onSigint);
      // The addon loader's error is written for users (what was tried, how to get a binary): no stack.
      const text =
        error instanceof Error
          ? error.message.startsWith('sockprobe: ')
            ? error.message
            : `sockprobe: internal error: ${error.stack ?? error.message}`
          : `sockprobe: internal error: ${String(error)}`;
      process.stderr.write(`${text}\n`);
      process.exitCode = EXIT_NOT_OPEN;
    },
  );
}
