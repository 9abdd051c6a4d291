// The native engine as a Connector: the addon's start() on an id from the
// completion router (src/binding.ts), cancel() by that id.
import { attach, native, release, reserve, start, unregister, type RawFamily, type RawOutcome } from './binding';
import type { Connector, Pending } from './engine';

export const nativeConnector: Connector = {
  start(p: Pending, family: RawFamily, address: string, port: number, localAddress: string | null, timeoutMs: number, flags: number, ttl = 0): RawOutcome | undefined {
    const id = reserve();
    let raw: RawOutcome | undefined;
    try {
      raw = start(id, family, address, port, localAddress, timeoutMs, flags, ttl);
    } catch (error) {
      release(id);
      throw error;
    }
    if (raw !== undefined) {
      release(id);
      return raw;
    }
    p.handle = id;
    attach(id, p);
    return undefined;
  },

  cancel(p: Pending): void {
    const id = p.handle as number;
    p.handle = undefined;
    native.cancel(id);
    unregister(id);
  },

  inFlight(): number {
    return native.inFlight();
  },
};
