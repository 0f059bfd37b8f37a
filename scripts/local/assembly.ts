// Makes sure local mode runs a synthesized, BUNDLED cloud assembly that is current: a hash of everything
// the assembly is built from (infra/, functions/, the playbooks folder, cdk.json, the lock file) is stored
// beside it, and a mismatch (or a missing assembly) synthesizes again. The shipped playbooks/ go to cdk.out
// (what `npm run synth` writes); another rules file or check mode is a different bundle, so it gets its own
// staged playbooks folder and its own assembly under .local/ — synthesized for real, never patched.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { loadRulesFile, RulesValidationError } from '../../functions/core/rules.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
export const DEFAULT_PLAYBOOKS_DIR = join(REPO_ROOT, 'playbooks');
export const DEFAULT_ASSEMBLY_DIR = join(REPO_ROOT, 'cdk.out');
/** Local mode's working area (git-ignored). */
export const LOCAL_DIR = join(REPO_ROOT, '.local');

const STAMP_FILE = 'local-mode.json';
const SYNTH_ENTRY = fileURLToPath(new URL('./synth-assembly.ts', import.meta.url));

export class AssemblyError extends Error {
  override name = 'AssemblyError';
}

export interface PlaybooksSelection {
  /**
   * A playbooks folder (with rules.yaml), or a rules file whose folder is the playbooks folder — the one
   * meaning `--rules` has in `autoprov validate`/`plan` and `npm start` (cli/bundle.ts resolveRulesPath).
   * @default the repository's playbooks/
   */
  readonly rules?: string;
  /** Check mode: `defaults.check: true` in the rules (a rule's own `check` still wins). */
  readonly check?: boolean;
  /**
   * Replaces the rules' `inventories` (paths relative to the playbooks folder): the demo enables the
   * sample inventory this way, which the shipped rules.yaml does not.
   */
  readonly inventories?: readonly string[];
}

export interface EnsureAssemblyOptions extends PlaybooksSelection {
  /** Progress lines ("Synthesizing the stack…"). */
  readonly onProgress?: (message: string) => void;
  /** Synthesize even when the stamp matches. */
  readonly force?: boolean;
}

export interface Assembly {
  readonly dir: string;
  /** The playbooks folder the assembly was synthesized from. */
  readonly playbooksDir: string;
  readonly sourceHash: string;
  /** True when this call synthesized it. */
  readonly synthesized: boolean;
  readonly synthMs?: number;
}

/** sha256 over relative paths and contents of the given files and folders (sorted, node_modules skipped). */
export function hashSources(roots: readonly string[]): string {
  const hash = createHash('sha256');
  const visit = (path: string, label: string) => {
    if (!existsSync(path)) {
      hash.update(`missing:${label}\0`);
      return;
    }
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) {
        if (name === 'node_modules' || name === '.git') continue;
        visit(join(path, name), `${label}/${name}`);
      }
      return;
    }
    hash.update(`${label}\0`);
    hash.update(readFileSync(path));
    hash.update('\0');
  };
  for (const root of roots) visit(root, basename(root));
  return hash.digest('hex');
}

/**
 * The playbooks folder to synthesize: the selected folder itself when nothing changes its rules.yaml;
 * else a content-addressed copy of it under .local/playbooks/ with the rules file, check mode and/or the
 * inventories applied. The user's rules file is validated first, so an error names it, never the copy.
 */
export function stagePlaybooks(selection: PlaybooksSelection = {}): string {
  const given = selection.rules ? resolve(selection.rules) : DEFAULT_PLAYBOOKS_DIR;
  if (!existsSync(given)) throw new AssemblyError(`Rules ${given} do not exist.`);
  const isDir = statSync(given).isDirectory();
  const rulesFile = isDir ? join(given, 'rules.yaml') : given;
  const baseDir = isDir ? given : dirname(given);
  if (isDir && !existsSync(rulesFile)) {
    throw new AssemblyError(`${given} has no rules.yaml: pass a playbooks folder or a rules file.`);
  }
  try {
    loadRulesFile(rulesFile);
  } catch (error) {
    if (!(error instanceof RulesValidationError)) throw error;
    throw new AssemblyError(
      `${rulesFile} is invalid (autoprov validate --rules ${rulesFile} says the same):\n${error.issues
        .map((issue) => `  ${issue.file}: ${issue.path}: ${issue.message}`)
        .join('\n')}`,
    );
  }
  if (basename(rulesFile) === 'rules.yaml' && !selection.check && !selection.inventories) return baseDir;
  let rules = readFileSync(rulesFile, 'utf8');
  if (selection.check || selection.inventories) {
    const doc = parseDocument(rules);
    if (selection.check) doc.setIn(['defaults', 'check'], true);
    if (selection.inventories) doc.set('inventories', [...selection.inventories]);
    rules = doc.toString();
  }
  const key = createHash('sha256')
    .update(hashSources([baseDir]))
    .update('\0')
    .update(rules)
    .digest('hex')
    .slice(0, 16);
  const staged = join(LOCAL_DIR, 'playbooks', key);
  if (!existsSync(join(staged, 'rules.yaml'))) {
    const temp = `${staged}.tmp-${process.pid}`;
    rmSync(temp, { recursive: true, force: true });
    cpSync(baseDir, temp, { recursive: true });
    writeFileSync(join(temp, 'rules.yaml'), rules);
    rmSync(staged, { recursive: true, force: true });
    renameSync(temp, staged);
  }
  return staged;
}

interface Stamp {
  readonly sourceHash: string;
  readonly playbooksDir: string;
  readonly synthesizedAt: string;
  /** Hash of the assembly's own top-level files as local mode wrote them (see assemblyContentHash). */
  readonly contentHash?: string;
}

/**
 * sha256 over the assembly's top-level files (manifest, templates, asset manifests, tree), without the
 * stamp. Anything else that writes the folder — `npx cdk synth -c key=value` writes cdk.out with other
 * context — changes it, so local mode notices and synthesizes again instead of running that template.
 */
export function assemblyContentHash(dir: string): string {
  const hash = createHash('sha256');
  if (!existsSync(dir)) return 'missing';
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name === STAMP_FILE || !statSync(path).isFile()) continue;
    hash.update(`${name}\0`);
    hash.update(readFileSync(path));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** Why the assembly in `dir` cannot be reused for `sourceHash`, or undefined when it is current. */
export function staleReason(dir: string, sourceHash: string): string | undefined {
  const stamp = readStamp(dir);
  if (!stamp || !existsSync(join(dir, 'manifest.json'))) return 'no local-mode assembly yet';
  if (stamp.sourceHash !== sourceHash) return 'the sources changed';
  if (stamp.contentHash !== assemblyContentHash(dir)) {
    return `${basename(dir)} was written by something else since (e.g. npx cdk synth with other context)`;
  }
  return undefined;
}

/** Records that `dir` holds local mode's assembly of `sourceHash`, as written now. */
export function writeStamp(dir: string, sourceHash: string, playbooksDir: string): void {
  const stamp: Stamp = {
    sourceHash,
    playbooksDir,
    synthesizedAt: new Date().toISOString(),
    contentHash: assemblyContentHash(dir),
  };
  writeFileSync(join(dir, STAMP_FILE), `${JSON.stringify(stamp, null, 2)}\n`);
}

function readStamp(dir: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, STAMP_FILE), 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock directory per assembly (under .local/), so two local-mode processes never synthesize into it at once. */
async function withLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  mkdirSync(join(LOCAL_DIR, 'locks'), { recursive: true });
  const lock = join(LOCAL_DIR, 'locks', `${basename(dir)}.lock`);
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(join(lock, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
      if (holder > 0 && !pidAlive(holder)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new AssemblyError(`Timed out waiting for ${lock} (held by process ${holder}).`);
      }
      await sleep(250);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function synthesize(outdir: string, playbooksDir: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SYNTH_ENTRY, outdir, playbooksDir], {
      cwd: REPO_ROOT,
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', CDK_DISABLE_CLI_TELEMETRY: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else
        reject(
          new AssemblyError(
            `Synthesizing the stack failed (exit ${code}). Fix the error below (try \`npm run synth\`):\n${output.slice(-4000)}`,
          ),
        );
    });
  });
}

/** How many staged playbooks folders and their assemblies .local/ keeps (each assembly is ~25 MB). */
const KEEP_STAGED = 8;

/** Removes the oldest staged playbooks folders and assemblies beyond KEEP_STAGED, never the current ones. */
function pruneStaged(currentAssembly: string, currentPlaybooks: string): void {
  for (const [root, current] of [
    [join(LOCAL_DIR, 'assemblies'), currentAssembly],
    [join(LOCAL_DIR, 'playbooks'), currentPlaybooks],
  ] as const) {
    if (!existsSync(root)) continue;
    const entries = readdirSync(root)
      .map((name) => join(root, name))
      .filter((path) => path !== current && !path.includes('.tmp-'))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    for (const stale of entries.slice(KEEP_STAGED - 1)) {
      if (existsSync(join(LOCAL_DIR, 'locks', `${basename(stale)}.lock`))) continue;
      rmSync(stale, { recursive: true, force: true });
    }
  }
}

/** A current bundled assembly for the selected playbooks, synthesizing it when needed. */
export async function ensureAssembly(options: EnsureAssemblyOptions = {}): Promise<Assembly> {
  const playbooksDir = stagePlaybooks(options);
  const isDefault = playbooksDir === DEFAULT_PLAYBOOKS_DIR;
  const sourceHash = hashSources([
    join(REPO_ROOT, 'infra'),
    join(REPO_ROOT, 'functions'),
    join(REPO_ROOT, 'cdk.json'),
    join(REPO_ROOT, 'package-lock.json'),
    SYNTH_ENTRY,
    playbooksDir,
  ]);
  const dir = isDefault ? DEFAULT_ASSEMBLY_DIR : join(LOCAL_DIR, 'assemblies', basename(playbooksDir));
  if (!options.force && !staleReason(dir, sourceHash))
    return { dir, playbooksDir, sourceHash, synthesized: false };
  return withLock(dir, async () => {
    // Another process may have synthesized it while this one waited for the lock.
    const why = staleReason(dir, sourceHash);
    if (!options.force && !why) return { dir, playbooksDir, sourceHash, synthesized: false };
    options.onProgress?.(
      `Synthesizing the stack (bundling the functions${isDefault ? '' : `, playbooks ${playbooksDir}`}${why?.includes('something else') ? `; ${why}` : ''})…`,
    );
    const started = Date.now();
    mkdirSync(dir, { recursive: true });
    rmSync(join(dir, STAMP_FILE), { force: true });
    await synthesize(dir, playbooksDir);
    writeStamp(dir, sourceHash, playbooksDir);
    pruneStaged(dir, playbooksDir);
    return { dir, playbooksDir, sourceHash, synthesized: true, synthMs: Date.now() - started };
  });
}
