// Issue 15's acceptance for the protocol checks, through the real `sockprobe`
// command (bin/sockprobe on the compiled lib/) against real servers:
//   sockprobe redis://127.0.0.1:P     exits 0 against a serving redis-server,
//                                     and 1 with the loading reason while it loads;
//   sockprobe postgres://127.0.0.1:P  exits 1 with starting-up against a standby
//                                     with hot_standby = off, and 0 against the primary.
import { protocols } from '../../src/checks/index';
import { sockprobe } from '../cli-run';
import { needs, openssl, requirement } from '../preconditions';
import { stopAll } from '../servers/harness';
import { initdb, startPrimary, startStandbyHotStandbyOff } from '../servers/postgres';
import { redisServer, startLoadingRedis, startRedis } from '../servers/redis';

const registered = requirement('the protocol modules registered (src/checks/index.ts builds its maps from src/checks/modules.ts)', () =>
  protocols.has('redis') && protocols.has('postgres') ? null : 'src/checks/index.ts has no redis or postgres check',
);

afterAll(stopAll);

interface JsonRun {
  ok: boolean;
  targets: { target: string; result: { status: string; reason: string; check?: { name: string; detail: string; facts: Record<string, unknown> } } }[];
}

async function json(url: string): Promise<{ code: number | null; out: JsonRun; stderr: string }> {
  const r = await sockprobe(['--json', url]);
  return { code: r.code, out: JSON.parse(r.stdout) as JsonRun, stderr: r.stderr };
}

needs(registered, redisServer.requirement).describe('sockprobe redis://', () => {
  test('exits 0 against a serving redis-server, with the check in the result', async () => {
    const server = await startRedis();
    const url = `redis://127.0.0.1:${server.port}`;
    const plain = await sockprobe([url]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/\+PONG/);
    const { code, out } = await json(url);
    expect(code).toBe(0);
    expect(out.targets[0]!.result).toMatchObject({ status: 'open', check: { name: 'redis', facts: { reply: 'PONG' } } });
    await server.stop();
  });

  test('exits 1, reason loading, while redis-server loads its dataset', async () => {
    const server = await startLoadingRedis();
    try {
      const { code, out } = await json(`redis://127.0.0.1:${server.port}`);
      expect(code).toBe(1);
      expect(out.targets[0]!.result).toMatchObject({ status: 'not-ready', reason: 'loading', check: { name: 'redis' } });
      expect(out.targets[0]!.result.check!.detail).toMatch(/LOADING/);
      const plain = await sockprobe([`redis://127.0.0.1:${server.port}`]);
      expect(plain.code).toBe(1);
      expect(`${plain.stdout}${plain.stderr}`).toMatch(/loading/i);
    } finally {
      await server.stop();
    }
  }, 60000);
});

needs(registered, initdb.requirement, openssl).describe('sockprobe postgres://', () => {
  test('exits 0 against the primary and 1, reason starting-up (57P03), against a standby with hot_standby = off', async () => {
    const primary = await startPrimary();
    const standby = await startStandbyHotStandbyOff(primary);
    const ok = await json(`postgres://postgres@127.0.0.1:${primary.server.port}/postgres`);
    expect(ok.code).toBe(0);
    expect(ok.out.targets[0]!.result).toMatchObject({ status: 'open', check: { name: 'postgres', facts: { auth: 'trust' } } });
    const standing = await json(`postgres://127.0.0.1:${standby.server.port}`);
    expect(standing.code).toBe(1);
    expect(standing.out.targets[0]!.result).toMatchObject({ status: 'not-ready', reason: 'starting-up', check: { name: 'postgres', facts: { sqlstate: '57P03' } } });
    const plain = await sockprobe([`postgres://127.0.0.1:${standby.server.port}`]);
    expect(plain.code).toBe(1);
    expect(`${plain.stdout}${plain.stderr}`).toMatch(/not accepting connections/);
  }, 120000);
});
