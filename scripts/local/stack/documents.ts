// The SSM documents local mode runs: AWS-ApplyAnsiblePlaybooks (really, with ansible-playbook, or simulated
// for large benchmark fleets) and the stack's own ensure-Ansible document. Any other Command document of the
// template is skipped: local mode never runs an unknown document's script on the developer's machine.
import {
  applyAnsiblePlaybooksDocument,
  describeDocumentContent,
  ensureAnsibleDocument,
  simulatedApplyAnsiblePlaybooksDocument,
} from '../ssm-agent.js';
import { type DocumentDefinition, SsmDocuments } from '../ssm-documents.js';
import type { LocalStackSpec } from '../template.js';
import type { LocalStackOptions } from './options.js';

/**
 * The SSM documents local mode runs: AWS-ApplyAnsiblePlaybooks (real or simulated) and the stack's
 * ensure-Ansible document. Any other document of the template is skipped: local mode never runs an unknown
 * document's script on the developer's machine.
 */
export function localDocuments(
  spec: LocalStackSpec,
  simulated: LocalStackOptions['simulatedAnsible'],
  ensureDocumentName: string | undefined,
  progress: (message: string) => void,
): SsmDocuments {
  const documents = new SsmDocuments();
  documents.register(
    simulated
      ? simulatedApplyAnsiblePlaybooksDocument(typeof simulated === 'object' ? simulated : {})
      : applyAnsiblePlaybooksDocument(),
  );
  for (const doc of spec.documents) {
    if (doc.documentType !== 'Command') continue;
    if (doc.name !== ensureDocumentName) {
      progress(`Skipping SSM document ${doc.name}: local mode only knows the ensure-Ansible document.`);
      continue;
    }
    const { parameters, steps } = describeDocumentContent(doc.content);
    documents.register(
      simulated
        ? simulatedEnsureDocument(doc.name, steps[0] ?? 'runShellScript')
        : ensureAnsibleDocument({ name: doc.name, parameters, step: steps[0] }),
    );
  }
  return documents;
}

/** The ensure-Ansible document without a process (simulated Ansible: the host is assumed to have it). */
function simulatedEnsureDocument(name: string, step: string): DocumentDefinition {
  return {
    name,
    parameters: {},
    steps: [step],
    run: async () => {
      const at = Date.now();
      return [
        {
          name: step,
          status: 'Success',
          exitCode: 0,
          stdout: 'SIMULATION: ansible-playbook is assumed to be installed.',
          stderr: '',
          startedAt: at,
          endedAt: at,
        },
      ];
    },
  };
}
