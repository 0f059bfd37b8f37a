// Differential test against Ansible itself (e2e tier: needs ansible-inventory). Every inventory of the
// corpus (test/fixtures/inventories/corpus/, each file saying on its first line which documented behaviour
// it covers) and every sample we ship is read by our parser and by `ansible-inventory -i FILE --list`;
// per host, the transitive groups and the flattened vars — with Ansible's types — must be equal. A file
// marked `# differs: <id>` must instead be refused by us with the reason DELIBERATE_DIFFERENCES gives,
// while Ansible accepts it; the README's rules section lists every such difference.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJson } from '../../functions/core/ansible-value.js';
import {
  DELIBERATE_DIFFERENCES,
  type DeliberateDifference,
  InventoryError,
  parseInventoryTyped,
} from '../../functions/core/inventory.js';

const ROOT = join(import.meta.dirname, '../..');
const CORPUS = join(ROOT, 'test/fixtures/inventories/corpus');
const CORPUS_FILES = readdirSync(CORPUS)
  .filter((f) => /\.(ini|ya?ml)$/.test(f))
  .sort()
  .map((f) => join(CORPUS, f));
const OWN_SAMPLES = [
  'test/fixtures/inventories/onprem.ini',
  'test/fixtures/inventories/onprem.yml',
  'playbooks/inventory/onprem.example.ini',
].map((f) => join(ROOT, f));
const FILES = [...CORPUS_FILES, ...OWN_SAMPLES];

interface AnsibleRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface HostView {
  readonly groups: string[];
  readonly vars: unknown;
}

const home = mkdtempSync(join(tmpdir(), 'autoprov-corpus-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function ansibleInventory(file: string): Promise<AnsibleRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('ansible-inventory', ['-i', file, '--list'], {
      env: {
        ...process.env,
        ANSIBLE_HOME: join(home, 'ansible-home'),
        ANSIBLE_LOCAL_TEMP: join(home, 'tmp'),
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_INVENTORY_UNPARSED_FAILED: '1',
        // Only the plugin the file is written for, as our parser picks by extension.
        ANSIBLE_INVENTORY_ENABLED: /\.ini$/.test(file) ? 'ini' : 'yaml',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', (error) =>
      reject(
        new Error(
          `ansible-inventory could not be run (${error.message}). Install Ansible: apt-get install -y ansible-core (Debian/Ubuntu) or pipx install ansible-core.`,
        ),
      ),
    );
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** One ansible-inventory per file, two at a time (each start costs about a second of CPU; 2 cores). */
async function runAll(files: readonly string[]): Promise<Map<string, AnsibleRun>> {
  const results = new Map<string, AnsibleRun>();
  const queue = [...files];
  const worker = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      results.set(file, await ansibleInventory(file));
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

/** ansible-inventory's --list as host → { transitive groups, vars }. */
function ansibleView(run: AnsibleRun): Record<string, HostView> {
  const { _meta: meta, ...listed } = JSON.parse(run.stdout) as Record<
    string,
    { hosts?: string[]; children?: string[] }
  > & { _meta: { hostvars: Record<string, Record<string, unknown>> } };
  const parents = new Map<string, string[]>();
  const direct = new Map<string, string[]>();
  for (const [group, entry] of Object.entries(
    listed as Record<string, { hosts?: string[]; children?: string[] }>,
  )) {
    for (const child of entry.children ?? []) parents.set(child, [...(parents.get(child) ?? []), group]);
    for (const host of entry.hosts ?? []) direct.set(host, [...(direct.get(host) ?? []), group]);
  }
  const view: Record<string, HostView> = {};
  for (const name of [...direct.keys()].sort()) {
    const groups = new Set<string>(['all']);
    const pending = [...(direct.get(name) ?? [])];
    while (pending.length > 0) {
      const group = pending.pop() as string;
      if (!groups.has(group)) {
        groups.add(group);
        pending.push(...(parents.get(group) ?? []));
      }
    }
    view[name] = { groups: [...groups].sort(), vars: sortKeys(meta.hostvars[name] ?? {}) };
  }
  return view;
}

function sortKeys(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function ourView(file: string): Record<string, HostView> {
  const hosts = parseInventoryTyped(readFileSync(file, 'utf8'), file);
  return Object.fromEntries(
    hosts.map((host) => [
      host.name,
      { groups: [...host.groups], vars: sortKeys(toJson(host.values as never) as Record<string, unknown>) },
    ]),
  );
}

function differsId(file: string): DeliberateDifference | undefined {
  const m = /^# differs: ([\w-]+)/.exec(readFileSync(file, 'utf8'));
  return m ? (m[1] as DeliberateDifference) : undefined;
}

describe('our inventory parser agrees with ansible-inventory', () => {
  let runs: Map<string, AnsibleRun>;
  beforeAll(async () => {
    runs = await runAll(FILES);
  });

  it('the corpus has at least 30 files, each saying which documented behaviour it covers', () => {
    expect(CORPUS_FILES.length).toBeGreaterThanOrEqual(30);
    for (const file of CORPUS_FILES) {
      const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
      expect(first, file).toMatch(/^# (covers|differs): .+ Source: https:\/\//);
    }
  });

  it.each(FILES.filter((f) => differsId(f) === undefined).map((f) => [f.slice(ROOT.length + 1), f]))(
    '%s',
    (_, file) => {
      const run = runs.get(file) as AnsibleRun;
      expect(run.code, run.stderr).toBe(0);
      const theirs = ansibleView(run);

      const ours = ourView(file);

      expect(Object.keys(ours).length).toBeGreaterThan(0);
      expect(ours).toEqual(theirs);
    },
  );

  it.each(FILES.filter((f) => differsId(f) !== undefined).map((f) => [f.slice(ROOT.length + 1), f]))(
    '%s: a deliberate difference (Ansible accepts it, we refuse it with the documented reason)',
    (_, file) => {
      const id = differsId(file) as DeliberateDifference;
      expect(Object.keys(DELIBERATE_DIFFERENCES)).toContain(id);
      const run = runs.get(file) as AnsibleRun;
      expect(run.code, run.stderr).toBe(0);

      let error: unknown;
      try {
        ourView(file);
      } catch (caught) {
        error = caught;
      }

      expect(error).toBeInstanceOf(InventoryError);
      expect((error as InventoryError).reason).toMatch(DELIBERATE_DIFFERENCES[id].error);
    },
  );

  it('every deliberate difference has a corpus file and is listed in the README rules section', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const rules = readme.slice(readme.indexOf('## Rules'), readme.indexOf('## Inspecting runs'));
    const used = new Set(CORPUS_FILES.map(differsId));
    for (const id of Object.keys(DELIBERATE_DIFFERENCES)) {
      expect(used, id).toContain(id);
      expect(rules, id).toContain(`\`${id}\``);
    }
  });
});
