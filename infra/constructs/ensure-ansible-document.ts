// Our own small SSM Command document that makes sure ansible-playbook exists before the first playbook,
// so AWS-ApplyAnsiblePlaybooks can run with InstallDependencies=False: its pip3 install breaks on
// Amazon Linux 2023 and Ubuntu >= 23.04 (PEP 668). See docs/adr/0004-own-ansible-install-step.md.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { ENSURE_ANSIBLE_TIMEOUT_SECONDS } from '../retries.js';

/** The AWS-owned document that runs the playbooks. */
export const APPLY_DOCUMENT_NAME = 'AWS-ApplyAnsiblePlaybooks';

/** The document's shell script (a real file, so it can be linted and run by hand). */
export const ENSURE_ANSIBLE_SCRIPT_FILE = fileURLToPath(new URL('./ensure-ansible.sh', import.meta.url));

export class EnsureAnsibleDocument extends Construct {
  public readonly document: ssm.CfnDocument;
  /** The generated document name (what SendCommand and the status events use). */
  public readonly documentName: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.document = new ssm.CfnDocument(this, 'Document', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: {
        schemaVersion: '2.2',
        description:
          'Ansible AutoProvisioner: installs ansible-core (and unzip) with the distribution package manager unless ansible-playbook is already present.',
        mainSteps: [
          {
            action: 'aws:runShellScript',
            name: 'ensureAnsible',
            precondition: { StringEquals: ['platformType', 'Linux'] },
            inputs: {
              timeoutSeconds: String(ENSURE_ANSIBLE_TIMEOUT_SECONDS),
              runCommand: fs.readFileSync(ENSURE_ANSIBLE_SCRIPT_FILE, 'utf8').trimEnd().split('\n'),
            },
          },
        ],
      },
    });
    this.documentName = this.document.ref;
  }
}
