// `sockprobe --version`: the package's version, then the engine that probes
// here and what its results can tell (engine()), so a bug report says both.
import * as fs from 'node:fs';
import * as path from 'node:path';

type EngineModule = typeof import('../engine.js');

function packageVersion(): string {
  const file = path.join(__dirname, '..', '..', 'package.json');
  const pkg: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : 'unknown';
}

/** The lines --version prints. */
export function versionText(): string {
  const lines = [packageVersion()];
  let info: ReturnType<EngineModule['engine']>;
  try {
    // Required here, not imported: loading the engine loads the addon, which --help never needs.
    info = (require('../engine') as EngineModule).engine();
  } catch (error) {
    // SOCKPROBE_ENGINE asked for an engine that cannot run here.
    lines.push(`engine: none (${error instanceof Error ? error.message : String(error)})`);
    return `${lines.join('\n')}\n`;
  }
  lines.push(`engine: ${info.name} (${info.native ? 'native' : 'pure JavaScript, net.Socket'}, ${info.platform}-${info.arch})`);
  lines.push(`facts: ${info.facts.length === 0 ? 'none' : info.facts.join(', ')}`);
  if (info.reason !== undefined) lines.push(`not native because: ${info.reason.replace(/\n/g, '\n  ')}`);
  return `${lines.join('\n')}\n`;
}
