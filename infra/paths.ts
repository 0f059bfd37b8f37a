// Where the repository's folders are, independent of the working directory the CDK app runs from.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const PLAYBOOKS_DIR = path.join(REPO_ROOT, 'playbooks');
