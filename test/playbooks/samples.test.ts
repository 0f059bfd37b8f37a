// The shipped sample playbooks, run for real the way AWS-ApplyAnsiblePlaybooks runs them
// (`ansible-playbook -i "localhost," -c local -e "ansible_python_interpreter=<python3>" -e "…" <file>`),
// confined to a scratch root through the `autoprov_root` extra var.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRulesFile } from '../../functions/core/rules.js';
import { agentPython3 } from '../helpers/agent-python.js';
import { playbooksDir } from '../helpers/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'autoprov-samples-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const env = {
  ...process.env,
  ANSIBLE_NOCOLOR: '1',
  ANSIBLE_FORCE_COLOR: '0',
  ANSIBLE_HOME: join(scratch, 'ansible-home'),
  ANSIBLE_LOCAL_TEMP: join(scratch, 'ansible-tmp'),
  ANSIBLE_REMOTE_TEMP: join(scratch, 'ansible-remote-tmp'),
  ANSIBLE_RETRY_FILES_ENABLED: '0',
  HOME: join(scratch, 'home'),
};

interface Run {
  readonly status: number | null;
  readonly output: string;
  /** `changed=` from the PLAY RECAP. */
  readonly changed: number;
}

/** The document's interpreter (`PYTHON_INTERPRETER=$(which python3)` on the agent): no interpreter discovery run. */
const python3 = agentPython3();

function runPlaybook(
  file: string,
  root: string,
  options: { check?: boolean; extraVars?: Record<string, string> } = {},
): Promise<Run> {
  const args = ['-i', 'localhost,', '-c', 'local', '-e', `ansible_python_interpreter=${python3}`];
  args.push('-e', `autoprov_root=${root}`);
  if (options.check) args.push('--check');
  for (const [key, value] of Object.entries(options.extraVars ?? {})) args.push('-e', `${key}=${value}`);
  args.push(join(playbooksDir, file));
  return new Promise((resolve) => {
    const child = spawn('ansible-playbook', args, { cwd: scratch, env });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error) => {
      output += String(error);
    });
    child.on('close', (status) => {
      const recap = /localhost\s+: ok=\d+\s+changed=(\d+)/.exec(output);
      resolve({ status, output, changed: recap ? Number(recap[1]) : -1 });
    });
  });
}

function newRoot(name: string): string {
  const root = join(scratch, name);
  mkdirSync(root, { recursive: true });
  return root;
}

/** Every file under `root`, relative, sorted. */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else out.push(relative(root, join(dir, entry.name)));
    }
  };
  walk(root);
  return out.sort();
}

const read = (root: string, path: string) => readFileSync(join(root, path), 'utf8');
const mode = (root: string, path: string) => (statSync(join(root, path)).mode & 0o777).toString(8);

beforeAll(() => {
  const probe = spawnSync('ansible-playbook', ['--version'], { env, encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'ansible-playbook is required to test the sample playbooks and was not found or does not run. Install it with `sudo apt-get install -y ansible-core` (Debian/Ubuntu), `sudo dnf install -y ansible-core` (Fedora/AL2023) or `pipx install ansible-core`, then re-run the tests.',
    );
  }
  mkdirSync(env.HOME, { recursive: true });
});

// A run confined to autoprov_root must not touch the real file system.
const realPaths = [
  '/etc/autoprov',
  '/var/lib/autoprov',
  '/var/www/autoprov',
  '/etc/nginx/conf.d/autoprov.conf',
];
const realBefore = realPaths.map((p) => [p, existsSync(p)] as const);
afterAll(() => {
  expect(realPaths.map((p) => [p, existsSync(p)] as const)).toEqual(realBefore);
});

describe('baseline.yml', () => {
  it('writes the motd, managed config, directory tree and last-run marker under autoprov_root', async () => {
    const root = newRoot('baseline');
    const started = Date.now();

    const run = await runPlaybook('baseline.yml', root, {
      extraVars: {
        ec2_name: 'web-1',
        ec2_instance_type: 't3.micro',
        ec2_az: 'eu-west-1a',
        autoprov_instance_id: 'i-0abc1234def567890',
      },
    });

    expect(run.status, run.output).toBe(0);
    expect(filesUnder(root)).toEqual([
      'etc/autoprov/baseline.conf',
      'etc/autoprov/conf.d/99-autoprov-sysctl.conf',
      'etc/motd',
      'var/lib/autoprov/last-run.json',
    ]);
    expect(statSync(join(root, 'var/log/autoprov')).isDirectory()).toBe(true);
    expect(mode(root, 'var/log/autoprov')).toBe('750');
    expect(mode(root, 'etc/motd')).toBe('644');
    expect(read(root, 'etc/motd')).toContain('web-1 (t3.micro, eu-west-1a)');
    expect(read(root, 'etc/autoprov/baseline.conf')).toContain(
      '[host]\nname = web-1\ninstance_type = t3.micro\navailability_zone = eu-west-1a\nplatform = linux\n',
    );
    expect(read(root, 'etc/autoprov/baseline.conf')).toContain('install = chrony,jq\n');
    expect(read(root, 'etc/autoprov/conf.d/99-autoprov-sysctl.conf')).toContain('vm.swappiness = 10');
    const marker = JSON.parse(read(root, 'var/lib/autoprov/last-run.json')) as Record<string, unknown>;
    expect(marker).toMatchObject({
      playbook: 'baseline.yml',
      host: 'web-1',
      instance_id: 'i-0abc1234def567890',
      check_mode: false,
    });
    const finished = Date.parse(String(marker.finished_at));
    expect(finished).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);
    expect(finished).toBeLessThanOrEqual(Date.now());
    // Package and service tasks are for real hosts only.
    expect(run.output).toMatch(/TASK \[Install baseline packages\][^\n]*\nskipping: \[localhost\]/);
  });

  it('falls back to the Name tag, then the inventory host name, and honours its own extra vars', async () => {
    const tagged = newRoot('baseline-tag');
    const bare = newRoot('baseline-bare');

    const [a, b] = await Promise.all([
      runPlaybook('baseline.yml', tagged, {
        extraVars: { tag_Name: 'from-tag', ntp_server: 'ntp.example', baseline_packages: 'vim,,htop' },
      }),
      runPlaybook('baseline.yml', bare),
    ]);

    expect(a.status, a.output).toBe(0);
    expect(b.status, b.output).toBe(0);
    expect(read(tagged, 'etc/motd')).toContain('  from-tag\n');
    expect(read(tagged, 'etc/autoprov/baseline.conf')).toContain('ntp_server = ntp.example\n');
    expect(read(tagged, 'etc/autoprov/baseline.conf')).toContain('install = vim,htop\n');
    expect(read(bare, 'etc/motd')).toContain('  localhost\n');
    expect(read(bare, 'etc/autoprov/baseline.conf')).toContain('instance_type = unknown\n');
  });

  it('labels the host with autoprov_host_label (the instance id when Name had to be encoded), never localhost', async () => {
    const encoded = newRoot('baseline-encoded-name');

    // What the provisioner sends for Name="web 1; $(reboot)": the Name base64-encoded, the id as label.
    const run = await runPlaybook('baseline.yml', encoded, {
      extraVars: {
        tag_Name_b64: 'd2ViIDE7ICQocmVib290KQ==',
        autoprov_instance_id: 'i-0123456789abcdef0',
        autoprov_host_label: 'i-0123456789abcdef0',
      },
    });

    expect(run.status, run.output).toBe(0);
    expect(read(encoded, 'etc/motd')).toContain('  i-0123456789abcdef0\n');
    expect(read(encoded, 'etc/motd')).not.toContain('localhost');
    expect(read(encoded, 'etc/autoprov/baseline.conf')).toContain('name = i-0123456789abcdef0\n');
  });

  it('is idempotent apart from the last-run marker', async () => {
    const root = newRoot('baseline-twice');
    const first = await runPlaybook('baseline.yml', root);
    const motd = read(root, 'etc/motd');

    const second = await runPlaybook('baseline.yml', root);

    expect(first.status, first.output).toBe(0);
    expect(second.status, second.output).toBe(0);
    expect(first.changed).toBeGreaterThanOrEqual(5);
    expect(second.changed).toBeLessThanOrEqual(1);
    expect(read(root, 'etc/motd')).toBe(motd);
  });

  it('writes nothing in check mode', async () => {
    const root = newRoot('baseline-check');

    const run = await runPlaybook('baseline.yml', root, { check: true });

    expect(run.status, run.output).toBe(0);
    expect(run.changed).toBeGreaterThan(0);
    expect(filesUnder(root)).toEqual([]);
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('webserver.yml', () => {
  it('writes the site, its nginx config and a marker, using the extra vars of the shipped web rule', async () => {
    const root = newRoot('web');
    const rule = loadRulesFile(join(playbooksDir, 'rules.yaml')).rules.find((r) => r.name === 'web');
    const extraVars = rule?.playbooks.find((p) => p.file === 'webserver.yml')?.extraVars;
    expect(extraVars).toEqual({ http_port: '80', site_title: 'Storefront' });

    const run = await runPlaybook('webserver.yml', root, {
      extraVars: {
        ...extraVars,
        http_port: '8080',
        ec2_name: 'shop-1',
        ec2_instance_type: 't3.small',
        ec2_private_ip: '10.0.0.5',
      },
    });

    expect(run.status, run.output).toBe(0);
    expect(filesUnder(root)).toEqual([
      'etc/nginx/conf.d/autoprov.conf',
      'var/lib/autoprov/webserver-last-run.json',
      'var/www/autoprov/index.html',
      'var/www/autoprov/static/health.txt',
    ]);
    const index = read(root, 'var/www/autoprov/index.html');
    expect(index).toContain('<title>Storefront</title>');
    expect(index).toContain('<tr><th>Host</th><td>shop-1</td></tr>');
    expect(index).toContain('<tr><th>ec2_instance_type</th><td>t3.small</td></tr>');
    expect(index).toContain('<tr><th>ec2_private_ip</th><td>10.0.0.5</td></tr>');
    expect(index).not.toContain('ec2_vpc_id');
    expect(index).toContain('<tr><th>Port</th><td>8080</td></tr>');
    const nginx = read(root, 'etc/nginx/conf.d/autoprov.conf');
    expect(nginx).toContain('    listen 8080;\n    listen [::]:8080;\n    server_name shop-1;\n');
    expect(read(root, 'var/www/autoprov/static/health.txt')).toBe('ok\n');
    expect(JSON.parse(read(root, 'var/lib/autoprov/webserver-last-run.json'))).toMatchObject({
      playbook: 'webserver.yml',
      host: 'shop-1',
      http_port: '8080',
    });
    // The reload handler was notified, and skipped because this is not a real host.
    expect(run.output).toMatch(/RUNNING HANDLER \[Reload nginx\][^\n]*\nskipping: \[localhost\]/);
  });

  it('escapes HTML in the facts it renders', async () => {
    const root = newRoot('web-escape');

    const run = await runPlaybook('webserver.yml', root, { extraVars: { tag_Name: '<b>x</b>' } });

    expect(run.status, run.output).toBe(0);
    expect(read(root, 'var/www/autoprov/index.html')).toContain('<h1>&lt;b&gt;x&lt;/b&gt;</h1>');
  });

  it('refuses a port nginx cannot listen on', async () => {
    const root = newRoot('web-bad-port');

    const run = await runPlaybook('webserver.yml', root, { extraVars: { http_port: '70000' } });

    expect(run.status).toBe(2);
    expect(run.output).toContain('http_port must be 1-65535, got 70000');
    expect(filesUnder(root)).toEqual([]);
  });

  it('writes nothing in check mode', async () => {
    const root = newRoot('web-check');

    const run = await runPlaybook('webserver.yml', root, { check: true, extraVars: { http_port: '8080' } });

    expect(run.status, run.output).toBe(0);
    expect(readdirSync(root)).toEqual([]);
  });
});
