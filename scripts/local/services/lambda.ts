// Lambda emulator (REST-JSON): POST /2015-03-31/functions/<name>/invocations, used by the detectors to
// invoke the notifier asynchronously. Delegates to a FunctionInvoker (function-host.ts): RequestResponse
// returns the payload (X-Amz-Function-Error: Unhandled on a function error, like Lambda); Event answers
// 202 at once and runs in the background (with Lambda's async retries when `invokeAsync` is given);
// DryRun only checks the function exists. Status codes and headers as in the API reference
// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): 200, 202 for Event, 204 for DryRun.
import { type AwsRequest, type AwsResponse, type ServiceEmulator, ServiceError } from '../protocol.js';

export interface InvokeOutcome {
  /** The function's JSON result, or Lambda's `{errorType, errorMessage, trace}` on an error. */
  readonly payload: unknown;
  /** Set when the function failed (Lambda's X-Amz-Function-Error). */
  readonly functionError?: 'Unhandled';
}

export interface FunctionInvoker {
  has(functionName: string): boolean;
  invoke(functionName: string, payload: unknown): Promise<InvokeOutcome>;
}

/** Name from a function name, name:qualifier, partial ARN or full ARN. */
export function functionNameOf(ref: string): string {
  const arn = /^arn:aws[\w-]*:lambda:[^:]*:\d{12}:function:([^:]+)(?::.+)?$/.exec(ref);
  if (arn?.[1]) return arn[1];
  const partial = /^\d{12}:function:([^:]+)/.exec(ref);
  if (partial?.[1]) return partial[1];
  return ref.split(':')[0] ?? ref;
}

export interface LambdaEmulatorOptions {
  /**
   * Runs an accepted Event invocation, as Lambda's asynchronous invocation does: retries on a function
   * error, then a dead letter (stack/async-invoker.ts). Without it the invocation runs once and a failure is
   * kept in `asyncFailures`.
   */
  readonly invokeAsync?: (functionName: string, payload: unknown) => Promise<void>;
}

export class LambdaEmulator implements ServiceEmulator {
  readonly service = 'Lambda' as const;
  /** Background (Event) invocations still running. */
  private readonly background = new Set<Promise<unknown>>();
  readonly asyncFailures: { functionName: string; payload: unknown; error: unknown }[] = [];

  constructor(
    private readonly invoker: FunctionInvoker,
    private readonly options: LambdaEmulatorOptions = {},
  ) {}

  async handle(_operation: string, request: AwsRequest): Promise<AwsResponse> {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(request.path);
    const name = functionNameOf(match?.[1] ?? '');
    if (!this.invoker.has(name)) {
      throw new ServiceError('ResourceNotFoundException', `Function not found: ${match?.[1] ?? ''}`, 404);
    }
    let payload: unknown = null;
    if (request.body.length > 0) {
      try {
        payload = JSON.parse(request.body.toString('utf8'));
      } catch {
        throw new ServiceError(
          'InvalidRequestContentException',
          'Could not parse request body into json',
          400,
        );
      }
    }
    const type = String(request.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    if (type === 'DryRun') return { status: 204 };
    if (type === 'Event') {
      if (request.body.length > 1024 * 1024) {
        throw new ServiceError(
          'RequestTooLargeException',
          'Request must be smaller than 1048576 bytes for the InvokeAsync operation',
          413,
        );
      }
      const run = (
        this.options.invokeAsync
          ? this.options.invokeAsync(name, payload)
          : this.invoker.invoke(name, payload).then((outcome) => {
              if (outcome.functionError)
                this.asyncFailures.push({ functionName: name, payload, error: outcome.payload });
            })
      ).catch((error: unknown) => this.asyncFailures.push({ functionName: name, payload, error }));
      this.background.add(run);
      void run.finally(() => this.background.delete(run));
      return { status: 202, headers: { 'x-amzn-requestid': request.requestId } };
    }
    if (type !== 'RequestResponse') {
      throw new ServiceError('InvalidParameterValueException', `Unsupported InvocationType ${type}`, 400);
    }
    const outcome = await this.invoker.invoke(name, payload);
    return {
      status: 200,
      headers: {
        'content-type': 'application/json',
        'x-amz-executed-version': '$LATEST',
        ...(outcome.functionError ? { 'x-amz-function-error': outcome.functionError } : {}),
      },
      body: JSON.stringify(outcome.payload ?? null),
    };
  }

  /** Resolves when every Event invocation accepted so far has finished. */
  async drain(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }
}
