// Type-level tests of engine(): compiled with `tsc -p test/types`, never run.
import { assertNever, engine, type EngineFact, type EngineInfo, type EngineName } from '../../src/index';

export function engineWords(): string {
  const info: EngineInfo = engine();
  // name is a closed union: an exhaustive switch compiles, a missing case would not.
  const name: EngineName = info.name;
  switch (name) {
    case 'epoll':
    case 'uv':
      return `native ${name}`;
    case 'node':
      return `node: ${info.reason ?? ''}`;
    default:
      return assertNever(name);
  }
}

export function facts(): boolean {
  const info = engine();
  const f: readonly EngineFact[] = info.facts;
  // @ts-expect-error facts are read-only.
  info.facts.push('ttl');
  // @ts-expect-error not a fact an engine reports.
  const bad: EngineFact = 'rtt';
  void bad;
  // @ts-expect-error reason may be absent (a native engine).
  const reason: string = info.reason;
  void reason;
  const platform: NodeJS.Platform = info.platform;
  void platform;
  return f.includes('icmpQueue') && info.native;
}
