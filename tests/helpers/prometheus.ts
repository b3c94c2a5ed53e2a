/**
 * Parses Prometheus text exposition with a real parser: the reference Python client's
 * `prometheus_client.parser`, run by the tests' own Python (.venv-test/, pinned in
 * tests/requirements.txt, installed by scripts/setup.mjs). Also small helpers to read samples.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { testPython } from './test-python.js';

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

let checked: string | null = null;

/** The tests' python, once it is known to import prometheus_client; throws, saying why, when it does not. */
export function ensurePrometheusParser(): string {
  if (checked !== null) return checked;
  const exe = testPython();
  const probe = spawnSync(exe, ['-c', 'import prometheus_client.parser'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  if (probe.status !== 0) {
    throw new Error(`${exe} cannot import prometheus_client (tests/requirements.txt): run \`node scripts/setup.mjs\`\n${probe.error?.message || probe.stderr}`);
  }
  checked = exe;
  return exe;
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
