// Reading a synthesized template the way a reviewer would: functions by their service name, the policies
// attached to their roles, statements with every intrinsic resolved to readable placeholder ARNs.
import { resolveIntrinsics } from '../../scripts/local/asl.js';

export type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

export interface Statement {
  readonly Effect: string;
  readonly Action: string[];
  readonly Resource: string[];
  readonly Condition?: Record<string, Record<string, unknown>>;
  /** Logical id of the policy that holds it, and the roles it is attached to. */
  readonly policy: string;
  readonly roles: string[];
}

const asList = (v: unknown): string[] =>
  Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)];

export function resources(template: Template, type: string): [string, Record<string, unknown>][] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

/** Every IAM statement of the template (inline policies, managed policies, role inline policies), resolved. */
export function statements(template: Template): Statement[] {
  const out: Statement[] = [];
  const add = (policy: string, document: unknown, roles: string[]) => {
    const resolved = resolveIntrinsics(document, template) as { Statement: Record<string, unknown>[] };
    for (const s of resolved.Statement) {
      out.push({
        Effect: String(s.Effect),
        Action: asList(s.Action),
        Resource: asList(s.Resource),
        ...(s.Condition ? { Condition: s.Condition as Statement['Condition'] } : {}),
        policy,
        roles,
      });
    }
  };
  const roleIds = (refs: unknown): string[] =>
    Array.isArray(refs) ? refs.map((r) => String((r as { Ref?: string }).Ref ?? r)) : [];
  for (const [id, p] of resources(template, 'AWS::IAM::Policy')) add(id, p.PolicyDocument, roleIds(p.Roles));
  for (const [id, p] of resources(template, 'AWS::IAM::ManagedPolicy'))
    add(id, p.PolicyDocument, roleIds(p.Roles));
  for (const [id, p] of resources(template, 'AWS::IAM::Role')) {
    for (const inline of (p.Policies as { PolicyDocument: unknown }[] | undefined) ?? [])
      add(id, inline.PolicyDocument, [id]);
  }
  return out;
}

/** The Lambda function whose POWERTOOLS_SERVICE_NAME is `service`: [logical id, properties]. */
export function functionOf(template: Template, service: string): [string, Record<string, unknown>] {
  const found = resources(template, 'AWS::Lambda::Function').filter(
    ([, p]) => envOf(p).POWERTOOLS_SERVICE_NAME === service,
  );
  if (found.length !== 1 || !found[0])
    throw new Error(`Expected one function with service ${service}, found ${found.length}`);
  return found[0];
}

export function envOf(fn: Record<string, unknown>): Record<string, unknown> {
  return ((fn.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<
    string,
    unknown
  >;
}

/** Logical id of the role a function runs as. */
export function roleOf(fn: Record<string, unknown>): string {
  const role = fn.Role as { 'Fn::GetAtt'?: [string, string] };
  const id = role['Fn::GetAtt']?.[0];
  if (!id) throw new Error('Function role is not a GetAtt of a role in this template');
  return id;
}

/** Statements granted to one role. */
export function statementsOfRole(template: Template, roleId: string): Statement[] {
  return statements(template).filter((s) => s.roles.includes(roleId));
}

/** Placeholder resolution of any template value (ARNs with us-east-1 / 123456789012). */
export function resolved(template: Template, value: unknown): unknown {
  return resolveIntrinsics(value, template);
}
