// What the local SSM agent runs for each Command document: AWS-ApplyAnsiblePlaybooks for real (its
// aws:downloadContent step and its runShellScript step through bash, as the document's script does) or
// simulated for large fleets, the stack's "ensure Ansible" document, and generic aws:runShellScript documents.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { unzipSync } from 'fflate';
import { INSTALL_HINT } from './local-ansible.js';
import { parseS3Url } from './services/s3.js';
import {
  APPLY_ANSIBLE_PLAYBOOKS,
  applyAnsiblePlaybooksSchema,
  type DocumentDefinition,
  type DocumentRunContext,
  interpolate,
  type ParameterSchema,
  type StepOutcome,
} from './ssm-documents.js';

/** The runShellScript step of AWS-ApplyAnsiblePlaybooks, minus the package installation. */
const APPLY_PLAYBOOKS_SCRIPT = `#!/bin/bash
if [[ "{{InstallDependencies}}" == True ]] ; then
  echo "InstallDependencies=True: on an instance this step installs Ansible (pip3/dnf/apt). The local agent uses the host's ansible-core." >&2
fi
echo "Running Ansible in $(pwd)"
for zip in $(find -iname '*.zip'); do
  unzip -o $zip
done
PlaybookFile="{{PlaybookFile}}"
if [ ! -f  "\${PlaybookFile}" ] ; then
  echo "The specified Playbook file doesn't exist in the downloaded bundle. Please review the relative path and file name." >&2
  exit 2
fi
if ! command -v ansible-playbook >/dev/null 2>&1 ; then
  echo "ansible-playbook not found on the local agent host. Install it: ${INSTALL_HINT}" >&2
  exit 127
fi
PYTHON_INTERPRETER=$(which python3)
if [[ "{{Check}}" == True ]] ; then
  ansible-playbook -i "localhost," --check -c local -e "ansible_python_interpreter=\${PYTHON_INTERPRETER}" -e "{{ExtraVariables}}" "{{Verbose}}" "\${PlaybookFile}" "$@"
else
  ansible-playbook -i "localhost," -c local -e "ansible_python_interpreter=\${PYTHON_INTERPRETER}" -e "{{ExtraVariables}}" "{{Verbose}}" "\${PlaybookFile}" "$@"
fi
`;

/** aws:downloadContent with SourceType S3: the object named by SourceInfo.path into the working directory. */
async function downloadContent(context: DocumentRunContext, now: () => number): Promise<StepOutcome> {
  const startedAt = now();
  const fail = (message: string): StepOutcome => ({
    name: 'downloadContent',
    status: 'Failed',
    exitCode: 1,
    stdout: '',
    stderr: message,
    startedAt,
    endedAt: now(),
  });
  if (context.parameters.SourceType !== 'S3') {
    return fail(
      `SourceType ${context.parameters.SourceType ?? '(none)'} is not supported by the local agent (S3 only).`,
    );
  }
  let path: unknown;
  try {
    path = (JSON.parse(context.parameters.SourceInfo ?? '{}') as { path?: unknown }).path;
  } catch {
    path = undefined;
  }
  const location = typeof path === 'string' ? parseS3Url(path) : undefined;
  if (!location)
    return fail(`SourceInfo must be {"path": "<S3 URL>"}; got ${context.parameters.SourceInfo ?? ''}`);
  // S3 checks the caller's permissions before it looks for the key (403, not 404, without s3:GetObject).
  const denied = context.readDenied(location.bucket, location.key);
  if (denied !== undefined) {
    return fail(
      `Failed to download ${String(path)}: AccessDenied: Access Denied (status code: 403). ${denied}. ` +
        "Attach the stack's InstancePolicyArn to the instance profile's role.",
    );
  }
  const body = context.getObject(location.bucket, location.key);
  if (!body) {
    return fail(
      `Failed to download ${String(path)}: NoSuchKey (bucket ${location.bucket}, key ${location.key})`,
    );
  }
  writeFileSync(join(context.workDir, basename(location.key)), body);
  return {
    name: 'downloadContent',
    status: 'Success',
    exitCode: 0,
    stdout: `Content downloaded to ${context.workDir}`,
    stderr: '',
    startedAt,
    endedAt: now(),
  };
}

/** AWS-ApplyAnsiblePlaybooks, performed for real with the host's ansible-core. */
export function applyAnsiblePlaybooksDocument(now: () => number = Date.now): DocumentDefinition {
  return {
    name: APPLY_ANSIBLE_PLAYBOOKS,
    parameters: applyAnsiblePlaybooksSchema(),
    steps: ['downloadContent', 'runShellScript'],
    run: async (context) => {
      // Schema 2.2 steps run in order; a failed download does not stop the next step (it then exits 2).
      const download = await downloadContent(context, now);
      const shell = await context.runShell(
        'runShellScript',
        interpolate(APPLY_PLAYBOOKS_SCRIPT, context.parameters),
        {
          args: ['-e', `autoprov_root=${context.sandboxDir}`],
          timeoutSeconds: Number(context.parameters.TimeoutSeconds ?? 3600),
        },
      );
      return [download, shell];
    },
  };
}

export interface SimulatedPlaybooksOptions {
  /** How long a simulated run takes. Default 0. */
  readonly durationMs?: number;
  /**
   * Holds a run (after its download) until the returned promise settles: a test decides when a command
   * ends instead of racing a duration against the machine's speed. Undefined: no hold.
   */
  readonly hold?: (context: DocumentRunContext) => Promise<void> | undefined;
  /** Decides the exit code (and extra output) of a run whose playbook exists; default success (0). */
  readonly outcome?: (context: DocumentRunContext) => { exitCode: number; stdout?: string; stderr?: string };
}

/**
 * AWS-ApplyAnsiblePlaybooks without Ansible, for the benchmark's large fleets: same schema and steps,
 * the bundle is really downloaded and opened (exit 2 when PlaybookFile is missing), but no process
 * runs. A value bash would expand inside `-e "…"` (backtick or `$`) fails the run loudly instead of
 * being silently accepted, so an injection is still noticed.
 */
export function simulatedApplyAnsiblePlaybooksDocument(
  options: SimulatedPlaybooksOptions = {},
  now: () => number = Date.now,
): DocumentDefinition {
  return {
    name: APPLY_ANSIBLE_PLAYBOOKS,
    parameters: applyAnsiblePlaybooksSchema(),
    steps: ['downloadContent', 'runShellScript'],
    run: async (context) => {
      const download = await downloadContent(context, now);
      const startedAt = now();
      const finish = (exitCode: number, stdout: string, stderr: string): StepOutcome => ({
        name: 'runShellScript',
        status: exitCode === 0 ? 'Success' : 'Failed',
        exitCode,
        stdout,
        stderr,
        startedAt,
        endedAt: now(),
      });
      if (options.durationMs) await new Promise((r) => setTimeout(r, options.durationMs));
      const held = options.hold?.(context);
      if (held) await held;
      const files = new Set<string>();
      for (const name of readdirSync(context.workDir).filter((f) => f.toLowerCase().endsWith('.zip'))) {
        for (const entry of Object.keys(unzipSync(readFileSync(join(context.workDir, name)))))
          files.add(entry);
      }
      const playbook = (context.parameters.PlaybookFile ?? '').replace(/^\.\//, '');
      if (!files.has(playbook)) {
        return [
          download,
          finish(
            2,
            '',
            "The specified Playbook file doesn't exist in the downloaded bundle. Please review the relative path and file name.",
          ),
        ];
      }
      if (/[`$]/.test(context.parameters.ExtraVariables ?? '')) {
        return [
          download,
          finish(1, '', 'SIMULATION: ExtraVariables holds `…` or $ — bash would execute it inside -e "…"'),
        ];
      }
      const decided = options.outcome?.(context) ?? { exitCode: 0 };
      const recap = `PLAY RECAP *********\nlocalhost : ok=1 changed=0 unreachable=0 failed=${decided.exitCode === 0 ? 0 : 1}\n`;
      return [download, finish(decided.exitCode, `${decided.stdout ?? ''}${recap}`, decided.stderr ?? '')];
    },
  };
}

export interface CommandDocumentSpec {
  readonly name: string;
  readonly parameters?: Readonly<Record<string, ParameterSchema>>;
  /** Step name (the document's single aws:runShellScript step). Default `runShellScript`. */
  readonly step?: string;
  /** Parameter holding the execution timeout in seconds, if the document has one. */
  readonly timeoutParameter?: string;
}

/**
 * The stack's "ensure Ansible" Command document, locally: only checks that ansible-playbook exists (the
 * real script is a no-op then). It never installs packages on the developer's machine.
 */
export function ensureAnsibleDocument(spec: CommandDocumentSpec): DocumentDefinition {
  const step = spec.step ?? 'runShellScript';
  return {
    name: spec.name,
    parameters: spec.parameters ?? {},
    steps: [step],
    run: async (context) => [
      await context.runShell(
        step,
        `if command -v ansible-playbook >/dev/null 2>&1; then
  echo "Ansible is already installed: $(ansible-playbook --version | head -n 1)"
  exit 0
fi
echo "ansible-playbook is missing. On an instance this document installs it; locally install it with: ${INSTALL_HINT}" >&2
exit 1
`,
        { timeoutSeconds: spec.timeoutParameter ? Number(context.parameters[spec.timeoutParameter]) : 600 },
      ),
    ],
  };
}

/** A generic aws:runShellScript Command document: `{{ Param }}` interpolated, run in the working directory. */
export function shellScriptDocument(
  spec: CommandDocumentSpec & { readonly runCommand: readonly string[] },
): DocumentDefinition {
  const step = spec.step ?? 'runShellScript';
  return {
    name: spec.name,
    parameters: spec.parameters ?? {},
    steps: [step],
    run: async (context) => [
      await context.runShell(step, interpolate(spec.runCommand.join('\n'), context.parameters), {
        timeoutSeconds: spec.timeoutParameter ? Number(context.parameters[spec.timeoutParameter]) : 3600,
      }),
    ],
  };
}

/** Parameter schemas and step names from a Command document's content (e.g. the template's AWS::SSM::Document). */
export function describeDocumentContent(content: unknown): {
  parameters: Record<string, ParameterSchema>;
  steps: string[];
} {
  const doc = content as { parameters?: Record<string, ParameterSchema>; mainSteps?: { name?: unknown }[] };
  const steps = (doc.mainSteps ?? []).map((s) => (typeof s.name === 'string' ? s.name : ''));
  if (steps.length === 0 || steps.some((s) => s === '')) {
    throw new Error('Document content must be schema 2.2 with named mainSteps');
  }
  return { parameters: doc.parameters ?? {}, steps };
}
