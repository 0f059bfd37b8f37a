// IAM emulator (Query protocol, XML): the instance profiles of the simulated fleet, their roles and the
// managed policies attached to them — what `autoprov doctor` reads (GetInstanceProfile,
// ListAttachedRolePolicies). It also answers the local SSM agent's question "may this instance's profile
// read that S3 object?" by evaluating the attached policies' documents (identity policies only: Allow
// statements with `Action`/`Resource` wildcards, an explicit Deny wins), so the stack's own
// InstancePolicy document is what lets a local instance download the playbook bundle.
// The same evaluator judges resource-based policies (an SNS topic policy) for service principals
// (evaluateResourcePolicy), as IAM's "Policy evaluation logic" describes
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an explicit
// Deny in any applicable statement wins; otherwise a request is allowed only if some Allow applies. A
// service principal (cloudwatch.amazonaws.com) has no identity-based policy, so for it only the resource
// policy's Allow statements can grant anything.
import {
  type AwsRequest,
  type AwsResponse,
  parseQueryBody,
  type ServiceEmulator,
  ServiceError,
  wildcardMatch,
  xmlElement,
  xmlResponse,
} from '../protocol.js';

export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Sid?: string;
  /** Resource-based policies only: `*`, `{ AWS: … }` or `{ Service: … }`. */
  readonly Principal?: '*' | Readonly<Record<string, string | readonly string[]>>;
  /**
   * Supported operators: StringEquals, StringNotEquals, StringLike, StringNotLike, ArnEquals, ArnLike, Bool.
   * Keys: `ssm:resourceTag/<k>` and `aws:ResourceTag/<k>` (the resource's tags) and any key of the request
   * context (`aws:SourceAccount`, `aws:SourceArn`, `aws:SecureTransport`, …). Anything else never holds.
   */
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

/** Who makes a request to a resource-based policy: an AWS service, or an IAM principal (role/user ARN). */
export type RequestPrincipal = { readonly service: string } | { readonly arn: string };

/** Global condition keys of a request (`aws:SourceArn`, …), by name (IAM compares key names case-insensitively). */
export type RequestContext = Readonly<Record<string, string>>;

/** A resource a request acts on, with the tags that resource-tag conditions read. */
export interface AuthorizedResource {
  readonly arn: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface PolicyDocument {
  readonly Statement: readonly PolicyStatement[];
}

interface Role {
  readonly name: string;
  readonly policyArns: readonly string[];
}

const NS = 'https://iam.amazonaws.com/doc/2010-05-08/';

/** The AWS managed policy every SSM-managed instance needs. Its S3 access is none: the bundle needs ours. */
export const SSM_CORE_POLICY_ARN = 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore';
const SSM_CORE_DOCUMENT: PolicyDocument = {
  Statement: [
    {
      Effect: 'Allow',
      Action: [
        'ssm:DescribeAssociation',
        'ssm:GetDeployablePatchSnapshotForInstance',
        'ssm:GetDocument',
        'ssm:DescribeDocument',
        'ssm:GetManifest',
        'ssm:GetParameter',
        'ssm:GetParameters',
        'ssm:ListAssociations',
        'ssm:ListInstanceAssociations',
        'ssm:PutInventory',
        'ssm:PutComplianceItems',
        'ssm:PutConfigurePackageResult',
        'ssm:UpdateAssociationStatus',
        'ssm:UpdateInstanceAssociationStatus',
        'ssm:UpdateInstanceInformation',
      ],
      Resource: '*',
    },
    {
      Effect: 'Allow',
      Action: [
        'ssmmessages:CreateControlChannel',
        'ssmmessages:CreateDataChannel',
        'ssmmessages:OpenControlChannel',
        'ssmmessages:OpenDataChannel',
      ],
      Resource: '*',
    },
    {
      Effect: 'Allow',
      Action: [
        'ec2messages:AcknowledgeMessage',
        'ec2messages:DeleteMessage',
        'ec2messages:FailMessage',
        'ec2messages:GetEndpoint',
        'ec2messages:GetMessages',
        'ec2messages:SendReply',
      ],
      Resource: '*',
    },
  ],
};

const list = (value: string | readonly string[]): readonly string[] =>
  typeof value === 'string' ? [value] : value;

/**
 * Does `statement` cover `action` on `resource`? IAM matching: case-insensitive actions, `*`/`?` globs,
 * and every condition must hold. A condition operator or key this evaluator does not know never holds
 * (fail closed: an Allow with it does not apply).
 */
function covers(
  statement: PolicyStatement,
  action: string,
  resource: string,
  tags: Readonly<Record<string, string>>,
  context: RequestContext,
): boolean {
  return (
    list(statement.Action).some((a) => wildcardMatch(a.toLowerCase(), action.toLowerCase())) &&
    list(statement.Resource).some((r) => wildcardMatch(r, resource)) &&
    Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
      Object.entries(keys).every(([key, expected]) =>
        conditionHolds(operator, list(expected), conditionValue(key, tags, context)),
      ),
    )
  );
}

const TAG_CONDITION_KEY = /^(?:ssm:resourceTag|aws:ResourceTag)\/(.+)$/i;

/** The request's value of a condition key: a resource tag, or a key of the request context; undefined if absent. */
function conditionValue(
  key: string,
  tags: Readonly<Record<string, string>>,
  context: RequestContext,
): string | undefined {
  const tagKey = TAG_CONDITION_KEY.exec(key)?.[1];
  if (tagKey !== undefined) return Object.hasOwn(tags, tagKey) ? tags[tagKey] : undefined;
  const found = Object.keys(context).find((k) => k.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : context[found];
}

/**
 * IAM condition operators ("IAM JSON policy elements: Condition operators",
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
 * an absent key fails every positive operator and satisfies the negated ones; several expected values
 * are OR-ed; ArnEquals and ArnLike both accept `*`/`?` wildcards.
 */
function conditionHolds(operator: string, expected: readonly string[], actual: string | undefined): boolean {
  switch (operator) {
    case 'StringEquals':
      return actual !== undefined && expected.includes(actual);
    case 'StringLike':
    case 'ArnEquals':
    case 'ArnLike':
      return actual !== undefined && expected.some((pattern) => wildcardMatch(pattern, actual));
    case 'StringNotEquals':
      return actual === undefined || !expected.includes(actual);
    case 'StringNotLike':
      return actual === undefined || !expected.some((pattern) => wildcardMatch(pattern, actual));
    case 'Bool':
      return actual !== undefined && expected.some((value) => value.toLowerCase() === actual.toLowerCase());
    default:
      return false;
  }
}

/** Does a resource-based policy statement's Principal name `principal`? */
function principalMatches(principal: PolicyStatement['Principal'], who: RequestPrincipal): boolean {
  if (principal === undefined) return false;
  if (principal === '*') return true;
  const named = (key: string) =>
    Object.entries(principal)
      .filter(([k]) => k.toLowerCase() === key.toLowerCase())
      .flatMap(([, v]) => list(v));
  if (named('AWS').includes('*')) return true;
  if ('service' in who) return named('Service').includes(who.service);
  const account = who.arn.split(':')[4] ?? '';
  return named('AWS').some((p) => p === who.arn || p === account || p === `arn:aws:iam::${account}:root`);
}

type PolicyKind = 'identity-based' | 'resource-based';

/**
 * Evaluation of one request on one resource against one kind of policy: an explicit Deny wins, else some
 * Allow must cover it. Resource-based statements apply only to the principal they name. Undefined when
 * allowed, else AWS's AccessDenied message for `caller`.
 */
function evaluate(
  caller: string,
  statements: readonly PolicyStatement[],
  action: string,
  resource: AuthorizedResource,
  options: { kind?: PolicyKind; principal?: RequestPrincipal; context?: RequestContext } = {},
): string | undefined {
  const kind = options.kind ?? 'identity-based';
  const context = options.context ?? {};
  const principal = options.principal;
  const applies = (effect: 'Allow' | 'Deny') =>
    statements.some(
      (s) =>
        s.Effect === effect &&
        (principal === undefined || principalMatches(s.Principal, principal)) &&
        covers(s, action, resource.arn, resource.tags, context),
    );
  const denied = `User: ${caller} is not authorized to perform: ${action} on resource: ${resource.arn}`;
  if (applies('Deny'))
    return `${denied} with an explicit deny in ${kind === 'identity-based' ? 'an' : 'a'} ${kind} policy`;
  if (!applies('Allow')) return `${denied} because no ${kind} policy allows the ${action} action`;
  return undefined;
}

/**
 * A service principal's request against a resource-based policy (e.g. cloudwatch.amazonaws.com publishing
 * to a topic): it has no identity-based policy, so only this document can allow it. Undefined when
 * allowed, else AWS's message.
 */
export function evaluateResourcePolicy(
  document: PolicyDocument,
  request: {
    readonly principal: RequestPrincipal;
    readonly action: string;
    readonly resource: string;
    readonly context: RequestContext;
  },
): string | undefined {
  const caller = 'service' in request.principal ? request.principal.service : request.principal.arn;
  return evaluate(
    caller,
    document.Statement,
    request.action,
    { arn: request.resource, tags: {} },
    {
      kind: 'resource-based',
      principal: request.principal,
      context: request.context,
    },
  );
}

export class IamEmulator implements ServiceEmulator {
  readonly service = 'IAM' as const;
  private readonly policies = new Map<string, PolicyDocument>([[SSM_CORE_POLICY_ARN, SSM_CORE_DOCUMENT]]);
  private readonly roles = new Map<string, Role>();
  /** Instance profile name → role name. */
  private readonly profiles = new Map<string, string>();
  /** Access key id → the role whose identity policy authorizes that caller's requests. */
  private readonly principals = new Map<string, { role: string; statements: readonly PolicyStatement[] }>();

  constructor(private readonly account = '123456789012') {}

  addManagedPolicy(arn: string, document: PolicyDocument): void {
    this.policies.set(arn, document);
  }

  /** An instance profile with a role of the same name carrying `policyArns`; returns the profile's ARN. */
  addInstanceProfile(name: string, policyArns: readonly string[]): string {
    const unknown = policyArns.filter((arn) => !this.policies.has(arn));
    if (unknown.length > 0) throw new Error(`Local IAM: unknown managed policy ${unknown.join(', ')}`);
    this.roles.set(name, { name, policyArns: [...policyArns] });
    this.profiles.set(name, name);
    return this.profileArn(name);
  }

  hasInstanceProfile(name: string): boolean {
    return this.profiles.has(name);
  }

  instanceProfileNames(): string[] {
    return [...this.profiles.keys()];
  }

  profileArn(name: string): string {
    return `arn:aws:iam::${this.account}:instance-profile/${name}`;
  }

  /** Requests signed with `accessKeyId` are authorized by `statements` (a function's role, from the template). */
  addPrincipal(accessKeyId: string, role: string, statements: readonly PolicyStatement[]): void {
    this.principals.set(accessKeyId, { role, statements });
  }

  /**
   * Undefined when the caller may do `action` on every resource (or is not a principal this IAM knows:
   * an operator's or a test harness's credentials), else AWS's AccessDenied message for the first
   * resource that is not allowed.
   */
  authorize(
    accessKeyId: string | undefined,
    action: string,
    resources: readonly AuthorizedResource[],
  ): string | undefined {
    const principal = accessKeyId === undefined ? undefined : this.principals.get(accessKeyId);
    if (!principal) return undefined;
    const caller = `arn:aws:sts::${this.account}:assumed-role/${principal.role}/${accessKeyId}`;
    for (const resource of resources) {
      const denied = evaluate(caller, principal.statements, action, resource);
      if (denied !== undefined) return denied;
    }
    return undefined;
  }

  /** Undefined when the profile's role may do `action` on `resource`, else why not (as AWS would say). */
  denial(profileName: string, action: string, resource: string): string | undefined {
    const roleName = this.profiles.get(profileName);
    const role = roleName === undefined ? undefined : this.roles.get(roleName);
    if (!role) return `no instance profile ${profileName}`;
    const statements = role.policyArns.flatMap((arn) => this.policies.get(arn)?.Statement ?? []);
    const assumed = `arn:aws:sts::${this.account}:assumed-role/${role.name}/i-local`;
    return evaluate(assumed, statements, action, { arn: resource, tags: {} });
  }

  handle(operation: string, request: AwsRequest): AwsResponse {
    const params = parseQueryBody(request);
    switch (operation) {
      case 'GetInstanceProfile':
        return this.getInstanceProfile(params.get('InstanceProfileName') ?? '', request.requestId);
      case 'ListAttachedRolePolicies':
        return this.listAttachedRolePolicies(params.get('RoleName') ?? '', request.requestId);
      default:
        throw new ServiceError('InvalidAction', `The local IAM does not implement ${operation}`);
    }
  }

  private getInstanceProfile(name: string, requestId: string): AwsResponse {
    const roleName = this.profiles.get(name);
    if (roleName === undefined) {
      throw new ServiceError('NoSuchEntity', `Instance Profile ${name} cannot be found.`, 404);
    }
    const created = '2026-01-01T00:00:00Z';
    const role =
      `<member>${xmlElement('Path', '/')}${xmlElement('RoleName', roleName)}${xmlElement(
        'RoleId',
        `AROA${roleName
          .toUpperCase()
          .replace(/[^A-Z0-9]/g, '')
          .slice(0, 17)}`,
      )}` +
      `${xmlElement('Arn', `arn:aws:iam::${this.account}:role/${roleName}`)}${xmlElement('CreateDate', created)}</member>`;
    return xmlResponse(
      `<GetInstanceProfileResponse xmlns="${NS}"><GetInstanceProfileResult><InstanceProfile>` +
        `${xmlElement('Path', '/')}${xmlElement('InstanceProfileName', name)}${xmlElement(
          'InstanceProfileId',
          `AIPA${name
            .toUpperCase()
            .replace(/[^A-Z0-9]/g, '')
            .slice(0, 17)}`,
        )}` +
        `${xmlElement('Arn', this.profileArn(name))}${xmlElement('CreateDate', created)}<Roles>${role}</Roles>` +
        `</InstanceProfile></GetInstanceProfileResult><ResponseMetadata>${xmlElement('RequestId', requestId)}</ResponseMetadata></GetInstanceProfileResponse>`,
    );
  }

  private listAttachedRolePolicies(roleName: string, requestId: string): AwsResponse {
    const role = this.roles.get(roleName);
    if (!role) throw new ServiceError('NoSuchEntity', `The role with name ${roleName} cannot be found.`, 404);
    const members = role.policyArns
      .map(
        (arn) =>
          `<member>${xmlElement('PolicyName', arn.slice(arn.lastIndexOf('/') + 1))}${xmlElement('PolicyArn', arn)}</member>`,
      )
      .join('');
    return xmlResponse(
      `<ListAttachedRolePoliciesResponse xmlns="${NS}"><ListAttachedRolePoliciesResult>` +
        `<AttachedPolicies>${members}</AttachedPolicies>${xmlElement('IsTruncated', false)}` +
        `</ListAttachedRolePoliciesResult><ResponseMetadata>${xmlElement('RequestId', requestId)}</ResponseMetadata></ListAttachedRolePoliciesResponse>`,
    );
  }
}
