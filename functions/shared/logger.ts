// The one logger: Powertools structured JSON logs, service name per function from POWERTOOLS_SERVICE_NAME.
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'autoprov' });

/** The narrow logging collaborator that helpers take as a parameter. */
export type DebugLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
