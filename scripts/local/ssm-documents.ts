// SSM Command documents known to the local SSM emulator: their parameter schemas (validated on
// SendCommand the way SSM does: unknown names, required values, allowedValues, allowedPattern) and the
// local implementation the agent runs. AWS-ApplyAnsiblePlaybooks' schema is a copy of
// ssm-documents/AWS-ApplyAnsiblePlaybooks.parameters.json, as ssm:GetDocument returns it (late 2025).
import { readFileSync } from 'node:fs';

export interface ParameterSchema {
  readonly type: 'String' | 'StringList' | 'StringMap' | 'Boolean' | 'Integer' | 'MapList';
  readonly allowedValues?: readonly string[];
  readonly allowedPattern?: string;
  readonly default?: unknown;
  readonly description?: string;
  readonly interpolationType?: string;
}

/** What a step produced. */
export interface StepOutcome {
  readonly name: string;
  readonly status: 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

/** Everything a document implementation gets from the agent. */
export interface DocumentRunContext {
  readonly commandId: string;
  readonly instanceId: string;
  /** Parameter values after defaults were applied (String → the single value, StringMap → JSON text). */
  readonly parameters: Readonly<Record<string, string>>;
  /** The command's working directory on the "instance" (exists, empty). */
  readonly workDir: string;
  /** The instance's simulated filesystem root (autoprov_root). */
  readonly sandboxDir: string;
  readonly signal: AbortSignal;
  /** Runs a bash script exactly as the SSM agent's aws:runShellScript would, with a deadline. */
  runShell(
    step: string,
    script: string,
    options?: { args?: readonly string[]; timeoutSeconds?: number },
  ): Promise<StepOutcome>;
  /** Reads an object from the local S3 store (the instance profile's access). */
  getObject(bucket: string, key: string): Uint8Array | undefined;
  /** Why this instance's credentials may not read the object (S3's AccessDenied), or undefined when it may. */
  readDenied(bucket: string, key: string): string | undefined;
}

export type DocumentImplementation = (context: DocumentRunContext) => Promise<readonly StepOutcome[]>;

export interface DocumentDefinition {
  readonly name: string;
  readonly parameters: Readonly<Record<string, ParameterSchema>>;
  /** Step (plugin) names in order; GetCommandInvocation needs PluginName when there are several. */
  readonly steps: readonly string[];
  readonly run: DocumentImplementation;
}

export class InvalidParametersError extends Error {
  override name = 'InvalidParametersError';
}

export const APPLY_ANSIBLE_PLAYBOOKS = 'AWS-ApplyAnsiblePlaybooks';

export function applyAnsiblePlaybooksSchema(): Record<string, ParameterSchema> {
  const file = new URL('./ssm-documents/AWS-ApplyAnsiblePlaybooks.parameters.json', import.meta.url);
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { parameters: Record<string, ParameterSchema> };
  return parsed.parameters;
}

export class SsmDocuments {
  private readonly documents = new Map<string, DocumentDefinition>();

  register(document: DocumentDefinition): void {
    for (const [name, schema] of Object.entries(document.parameters)) {
      if (schema.allowedPattern !== undefined) {
        try {
          new RegExp(schema.allowedPattern);
        } catch (error) {
          throw new Error(
            `Document ${document.name}: parameter ${name} has an invalid allowedPattern: ${String(error)}`,
          );
        }
      }
    }
    this.documents.set(document.name, document);
  }

  get(name: string): DocumentDefinition | undefined {
    return this.documents.get(name);
  }

  names(): string[] {
    return [...this.documents.keys()];
  }
}

/**
 * Validates SendCommand Parameters against a document's schema and applies defaults. Throws
 * InvalidParametersError with the reason SSM would give.
 */
export function resolveParameters(
  document: DocumentDefinition,
  given: Readonly<Record<string, readonly string[]>>,
): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const name of Object.keys(given)) {
    if (!document.parameters[name]) {
      throw new InvalidParametersError(`Parameter "${name}" is not defined in document ${document.name}.`);
    }
  }
  for (const [name, schema] of Object.entries(document.parameters)) {
    const values = given[name];
    if (values === undefined) {
      if (schema.default === undefined) {
        throw new InvalidParametersError(
          `Parameter "${name}" is required by document ${document.name} but was not provided.`,
        );
      }
      resolved[name] = typeof schema.default === 'string' ? schema.default : JSON.stringify(schema.default);
      continue;
    }
    resolved[name] = validateValue(document.name, name, schema, values);
  }
  return resolved;
}

function validateValue(
  doc: string,
  name: string,
  schema: ParameterSchema,
  values: readonly string[],
): string {
  if (schema.type === 'StringList') {
    for (const v of values) checkConstraints(doc, name, schema, v);
    return JSON.stringify(values);
  }
  if (values.length !== 1) {
    throw new InvalidParametersError(
      `Parameter "${name}" of type ${schema.type} takes exactly one value, got ${values.length}.`,
    );
  }
  const value = values[0] ?? '';
  if (schema.type === 'StringMap') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidParametersError(
        `Parameter "${name}" is a StringMap: its value must be a JSON object.`,
      );
    }
    return value;
  }
  if (schema.type === 'Integer' && !/^-?\d+$/.test(value)) {
    throw new InvalidParametersError(`Parameter "${name}" must be an Integer.`);
  }
  if (schema.type === 'Boolean' && value !== 'true' && value !== 'false') {
    throw new InvalidParametersError(`Parameter "${name}" must be a Boolean.`);
  }
  checkConstraints(doc, name, schema, value);
  return value;
}

function checkConstraints(doc: string, name: string, schema: ParameterSchema, value: string): void {
  if (schema.allowedValues && !schema.allowedValues.includes(value)) {
    throw new InvalidParametersError(
      `Parameter "${name}" of document ${doc} has value "${value}", which is not one of ${JSON.stringify(schema.allowedValues)}.`,
    );
  }
  // Whole-value match: stricter than a substring search if SSM ever does the latter, never looser.
  if (schema.allowedPattern !== undefined && !new RegExp(`^(?:${schema.allowedPattern})$`).test(value)) {
    throw new InvalidParametersError(
      `Parameter "${name}" of document ${doc} has value "${value}", which fails its allowedPattern ${schema.allowedPattern}.`,
    );
  }
}

/** SSM's `{{ Name }}` substitution in document text. */
export function interpolate(text: string, parameters: Readonly<Record<string, string>>): string {
  return text.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name: string) => parameters[name] ?? whole);
}
