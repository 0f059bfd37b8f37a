// Tests use the same EventBridge pattern matcher as local mode (scripts/local/event-pattern.ts): one
// implementation, proven by test/infra/event-pattern.test.ts and test/local/event-pattern.test.ts.
export {
  matchesEventPattern,
  UnsupportedPatternError as EventPatternError,
} from '../../scripts/local/event-pattern.js';
