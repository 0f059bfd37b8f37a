// aws-sdk-client-mock matchers (toHaveReceivedCommandWith, ...) for every suite.
import 'aws-sdk-client-mock-vitest/extend';

// Tests never reach AWS: fake credentials and a region for every SDK client they build.
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
