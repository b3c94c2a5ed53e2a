/**
 * Parses Prometheus text exposition with a real parser: the reference Python client's
 * `prometheus_client.parser`. Installed on first use when missing (pip from PyPI, then
 * Debian's python3-prometheus-client). Also small helpers to read samples.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  /** The family name (prometheus_client drops a counter's `_total`). */
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": (s.value if math.isfinite(s.value) else str(s.value))} for s in f.samples]})
print(json.dumps(out))
`;

const PYTHONS = ['python3', '/usr/bin/python3'];
let python: string | null = null;

function hasClient(exe: string): boolean {
  return spawnSync(exe, ['-c', 'import prometheus_client.parser'], { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

function tryRun(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 180_000 });
}

/** A python3 that has prometheus_client, installing it when needed; throws when it cannot. */
export function ensurePrometheusParser(): string {
  if (python !== null) return python;
  const find = () => PYTHONS.find(hasClient) ?? null;
  python = find();
  if (python === null) {
    tryRun('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', 'prometheus-client']);
    python = find();
  }
  if (python === null) {
    tryRun('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--break-system-packages', 'prometheus-client']);
    python = find();
  }
  if (python === null && process.getuid?.() === 0) {
    tryRun('apt-get', ['install', '-y', '-q', 'python3-prometheus-client']);
    python = find();
  }
  if (python === null) throw new Error('prometheus_client (Python) is missing and could not be installed: pip install prometheus-client');
  return python;
}

export function parsePrometheus(text: string): PromFamily[] {
  const exe = ensurePrometheusParser();
  const out = execFileSync(exe, ['-c', PARSE], { input: text, maxBuffer: 64 * 1024 * 1024, timeout: 30_000 });
  return JSON.parse(out.toString('utf8')) as PromFamily[];
}

/** Every sample of every family, flattened. */
export function samplesOf(families: PromFamily[]): PromSample[] {
  return families.flatMap((f) => f.samples);
}

/** The value of the one sample named `name` whose labels include `labels` (undefined when none). */
export function sampleValue(families: PromFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samplesOf(families).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples named ${name} match ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}
