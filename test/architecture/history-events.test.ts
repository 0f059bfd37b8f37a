// Every declared history event type is written by some component: a type nobody writes is a promise
// to the operator reading `autoprov history` that the product does not keep.
import { describe, expect, it } from 'vitest';
import { HISTORY_EVENT_TYPES } from '../../functions/shared/state-store-api.js';
import { sourceFiles } from './source-files.js';

describe('history event types', () => {
  const writers = [...sourceFiles('functions'), ...sourceFiles('cli')].filter(
    (file) => file.path !== 'functions/shared/state-store-api.ts',
  );

  it.each(HISTORY_EVENT_TYPES)('%s is written somewhere', (type) => {
    const writes = new RegExp(`type: [^\\n]*'${type}'`);
    expect(
      writers.filter((file) => writes.test(file.text)).map((file) => file.path),
      `no component writes a ${type} history event: write it or remove the type`,
    ).not.toEqual([]);
  });
});
