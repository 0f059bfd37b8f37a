// Secrets Manager emulator (JSON 1.1): GetSecretValue for the notifier's Slack/Telegram secrets, which
// local mode seeds with `put`. Unknown secrets fail with ResourceNotFoundException, as in AWS
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html).
import { randomUUID } from 'node:crypto';
import {
  type AwsRequest,
  type AwsResponse,
  epochSeconds,
  jsonResponse,
  parseJsonBody,
  type ServiceEmulator,
  ServiceError,
} from '../protocol.js';

interface Secret {
  readonly name: string;
  readonly arn: string;
  readonly value: string;
  readonly versionId: string;
  readonly createdAt: number;
}

export class SecretsManagerEmulator implements ServiceEmulator {
  readonly service = 'SecretsManager' as const;
  private readonly secrets = new Map<string, Secret>();

  constructor(private readonly options: { account?: string; region?: string } = {}) {}

  /** Creates or replaces a secret (string value, e.g. JSON); returns its ARN. */
  put(name: string, value: string): string {
    const suffix = randomUUID().replace(/-/g, '').slice(0, 6);
    const arn = `arn:aws:secretsmanager:${this.options.region ?? 'us-east-1'}:${this.options.account ?? '123456789012'}:secret:${name}-${suffix}`;
    this.secrets.set(name, { name, arn, value, versionId: randomUUID(), createdAt: Date.now() });
    return arn;
  }

  handle(operation: string, request: AwsRequest): AwsResponse {
    if (operation !== 'GetSecretValue') {
      throw new ServiceError(
        'UnknownOperationException',
        `The local Secrets Manager does not implement ${operation}`,
      );
    }
    const input = parseJsonBody(request);
    const id = typeof input.SecretId === 'string' ? input.SecretId : '';
    // SecretId may be the name, the full ARN, or a partial ARN without the random suffix.
    const secret =
      this.secrets.get(id) ??
      [...this.secrets.values()].find((s) => s.arn === id || s.arn.startsWith(`${id}-`));
    if (!secret) {
      throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return jsonResponse(
      {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: secret.versionId,
        SecretString: secret.value,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: epochSeconds(secret.createdAt),
      },
      '1.1',
    );
  }
}
