// deploy/: the Dockerfile and the Kubernetes example, parsed and checked
// (Docker and a cluster cannot run here): the required fields, a non-root
// user, no added capability, and configurations the exporter and Prometheus
// (promtool) accept.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig, parseConfig } from '../../src/exporter/config';
import { needs, tool } from '../preconditions';

const DEPLOY = path.join(__dirname, '..', '..', 'deploy');
const K8S = path.join(DEPLOY, 'kubernetes');

/** Dockerfile instructions: [INSTRUCTION, arguments], continuation lines joined, comments dropped. */
function dockerfile(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = pending + line;
    pending = '';
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(whole);
    if (m === null) throw new Error(`not a Dockerfile instruction: ${whole}`);
    out.push([(m[1] as string).toUpperCase(), m[2] as string]);
  }
  return out;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} must be a mapping, got ${JSON.stringify(v)}`);
  return v as Obj;
};
const list = (v: unknown, what: string): unknown[] => {
  if (!Array.isArray(v)) throw new Error(`${what} must be a list, got ${JSON.stringify(v)}`);
  return v;
};

function manifests(): Obj[] {
  const docs: Obj[] = [];
  for (const f of fs.readdirSync(K8S).filter((n) => n.endsWith('.yaml'))) {
    for (const d of parseAllDocuments(fs.readFileSync(path.join(K8S, f), 'utf8'))) {
      if ('errors' in d && d.errors.length > 0) throw new Error(`${f}: ${d.errors[0]?.message ?? ''}`);
      const o = obj(d.toJSON(), f);
      for (const k of ['apiVersion', 'kind', 'metadata']) expect({ file: f, has: k in o }).toEqual({ file: f, has: true });
      docs.push(o);
    }
  }
  return docs;
}

const byKind = (docs: Obj[], kind: string): Obj => {
  const d = docs.find((x) => x.kind === kind);
  if (d === undefined) throw new Error(`no ${kind} in deploy/kubernetes`);
  return d;
};

describe('deploy/Dockerfile', () => {
  const ins = dockerfile(fs.readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8'));
  const all = (name: string): string[] => ins.filter(([i]) => i === name).map(([, a]) => a);

  test('node:20-slim, the packed tarball installed without compiling, the exporter as the entry point', () => {
    expect(all('FROM')).toEqual(['node:20-slim']);
    const run = all('RUN').join(' && ');
    expect(run).toMatch(/npm install --global --omit=dev --ignore-scripts \/tmp\/sockprobe\.tgz/);
    expect(all('COPY')[0]).toMatch(/^\$\{TARBALL\} \/tmp\/sockprobe\.tgz$/);
    expect(JSON.parse(all('ENTRYPOINT')[0] ?? 'null')).toEqual(['sockprobe', 'exporter']);
    expect(JSON.parse(all('CMD')[0] ?? 'null')).toEqual(['--config.file=/etc/sockprobe/blackbox.yml', '--web.listen-address=:9115']);
    expect(all('EXPOSE')).toEqual(['9115']);
    expect(all('HEALTHCHECK')[0]).toContain('/-/healthy');
  });

  test('a non-root user, and no capability added (no setcap, no file capabilities)', () => {
    const users = all('USER');
    expect(users).toHaveLength(1);
    const [user = '', group = ''] = (users[0] ?? '').split(':');
    expect(user).toMatch(/^[1-9][0-9]*$/);
    expect(group).toMatch(/^[1-9][0-9]*$/);
    // The user is the last word: nothing after it runs as root.
    expect(ins.findIndex(([i]) => i === 'USER')).toBeGreaterThan(ins.map(([i]) => i).lastIndexOf('RUN'));
    expect(all('RUN').join(' ')).toContain(`useradd --system --uid ${user} --gid ${group}`);
    expect(ins.some(([, a]) => /setcap|cap_net|--privileged|chmod [0-7]*[4-7][0-7]{3}/.test(a))).toBe(false);
  });

  test('the configuration it ships loads', () => {
    const copy = all('COPY').find((a) => a.includes('blackbox.yml'));
    expect(copy).toBe('deploy/blackbox.yml /etc/sockprobe/blackbox.yml');
    const c = loadConfig(path.join(DEPLOY, 'blackbox.yml'));
    expect([...c.modules.keys()]).toEqual(['tcp_connect', 'tcp_connect_v4']);
    expect(c.safety.allow).toHaveLength(1);
  });
});

describe('deploy/kubernetes', () => {
  const docs = manifests();

  test('a DaemonSet, unprivileged: non-root, no privilege escalation, every capability dropped and none added', () => {
    const ds = byKind(docs, 'DaemonSet');
    const pod = obj(obj(obj(ds.spec, 'spec').template, 'template').spec, 'pod spec');
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    const podSec = obj(pod.securityContext, 'pod securityContext');
    expect(podSec.runAsNonRoot).toBe(true);
    expect(podSec.runAsUser).toEqual(expect.any(Number));
    expect(podSec.runAsUser).not.toBe(0);
    const containers = list(pod.containers, 'containers').map((c, i) => obj(c, `container ${i}`));
    expect(containers.length).toBeGreaterThan(0);
    for (const c of containers) {
      expect(typeof c.image).toBe('string');
      const sec = obj(c.securityContext, 'container securityContext');
      expect(sec.allowPrivilegeEscalation).toBe(false);
      expect(sec.privileged ?? false).toBe(false);
      expect(sec.readOnlyRootFilesystem).toBe(true);
      const caps = obj(sec.capabilities, 'capabilities');
      expect(caps.add).toBeUndefined();
      expect(caps.drop).toEqual(['ALL']);
      expect(sec.runAsUser ?? podSec.runAsUser).not.toBe(0);
      expect(list(c.args, 'args')).toEqual(expect.arrayContaining(['--web.listen-address=:9115']));
      const ports = list(c.ports, 'ports').map((p) => obj(p, 'port'));
      expect(ports.map((p) => p.containerPort)).toContain(9115);
      for (const probe of ['livenessProbe', 'readinessProbe']) expect(obj(obj(c[probe], probe).httpGet, 'httpGet').path).toBe('/-/healthy');
    }
  });

  test('the Service selects the DaemonSet pods; the config volume is the ConfigMap, and its blackbox.yml loads', () => {
    const ds = byKind(docs, 'DaemonSet');
    const svc = byKind(docs, 'Service');
    const cm = byKind(docs, 'ConfigMap');
    const podLabels = obj(obj(obj(obj(ds.spec, 'spec').template, 'template').metadata, 'metadata').labels, 'labels');
    for (const [k, v] of Object.entries(obj(obj(svc.spec, 'spec').selector, 'selector'))) expect(podLabels[k]).toBe(v);
    const svcPorts = list(obj(svc.spec, 'spec').ports, 'ports').map((p) => obj(p, 'port'));
    expect(svcPorts[0]?.port).toBe(9115);
    const volumes = list(obj(obj(obj(ds.spec, 'spec').template, 'template').spec, 'pod').volumes, 'volumes').map((v) => obj(v, 'volume'));
    const cmName = obj(cm.metadata, 'metadata').name;
    expect(volumes.some((v) => obj(v.configMap ?? {}, 'configMap').name === cmName)).toBe(true);
    const c = parseConfig(String(obj(cm.data, 'data')['blackbox.yml']), 'configmap blackbox.yml');
    expect(c.modules.get('tcp_connect')?.prober).toBe('tcp');
    expect(c.safety.allow?.length).toBeGreaterThan(0);
  });

  test("the Prometheus jobs: blackbox_exporter's relabelling, pointed at the Service; and one job per node", () => {
    const prom = obj(parseAllDocuments(fs.readFileSync(path.join(K8S, 'prometheus.yml'), 'utf8'))[0]?.toJSON(), 'prometheus.yml');
    const jobs = list(prom.scrape_configs, 'scrape_configs').map((j) => obj(j, 'job'));
    const svc = byKind(docs, 'Service');
    const meta = obj(svc.metadata, 'metadata');
    const [first, perNode] = jobs;
    expect(first?.metrics_path).toBe('/probe');
    expect(obj(first?.params, 'params').module).toEqual(['tcp_connect']);
    expect(first?.relabel_configs).toEqual([
      { source_labels: ['__address__'], target_label: '__param_target' },
      { source_labels: ['__param_target'], target_label: 'instance' },
      { target_label: '__address__', replacement: `${String(meta.name)}.${String(meta.namespace)}.svc:9115` },
    ]);
    expect(obj(perNode?.params, 'params').target).toHaveLength(1);
    expect(JSON.stringify(perNode?.relabel_configs)).toContain('__meta_kubernetes_pod_node_name');
  });

  // Debian's Prometheus is built without the Kubernetes service discovery, so
  // its promtool rejects kubernetes_sd_configs: the per-node job is checked by
  // shape above, the others by promtool.
  needs(tool('promtool', 'prometheus')).test('promtool check config accepts the jobs (those without kubernetes_sd_configs)', () => {
    const doc = parseAllDocuments(fs.readFileSync(path.join(K8S, 'prometheus.yml'), 'utf8'))[0];
    const prom = obj(doc?.toJSON(), 'prometheus.yml');
    const jobs = list(prom.scrape_configs, 'scrape_configs').filter((j) => !('kubernetes_sd_configs' in obj(j, 'job')));
    expect(jobs.length).toBeGreaterThan(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockprobe-deploy-'));
    try {
      const file = path.join(dir, 'prometheus.yml');
      fs.writeFileSync(file, JSON.stringify({ scrape_configs: jobs }));
      const r = spawnSync('promtool', ['check', 'config', '--syntax-only', file], { encoding: 'utf8' });
      expect({ status: r.status, out: r.status === 0 ? '' : `${r.stdout}${r.stderr}` }).toEqual({ status: 0, out: '' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
