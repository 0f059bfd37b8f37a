// docs/architecture.md is the project's own design: its "Where is it decided" table names one existing
// file per rule, the sections the code points at exist, and nothing points outside the repository.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, sourceFiles } from './source-files.js';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'architecture.md'), 'utf8');
const HEADINGS = [...DOC.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1] as string);

/** The rows of the "Where is it decided" table: rule → the paths its cell names. */
function decidedIn(): Map<string, string[]> {
  const section = DOC.split(/^## Where is it decided$/m)[1]?.split(/^## /m)[0] ?? '';
  const rows = section
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
    .slice(1);
  return new Map(
    rows.map((row) => {
      const [rule = '', where = ''] = row
        .split('|')
        .slice(1, 3)
        .map((cell) => cell.trim());
      return [rule, [...where.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)];
    }),
  );
}

/** Every file of the repository a maintainer reads: sources, tests, README and docs. */
function repositoryTexts(): { path: string; text: string }[] {
  const markdown = [
    'README.md',
    ...['docs', 'docs/adr'].flatMap((dir) =>
      readdirSync(join(REPO_ROOT, dir))
        .filter((name) => name.endsWith('.md'))
        .map((name) => `${dir}/${name}`),
    ),
  ];
  return [
    ...['cli', 'functions', 'infra', 'scripts', 'test'].flatMap((dir) => sourceFiles(dir)),
    ...markdown.map((path) => ({ path, text: readFileSync(join(REPO_ROOT, path), 'utf8') })),
  ];
}

describe('docs/architecture.md', () => {
  it('names exactly one existing file for each rule of "Where is it decided"', () => {
    const table = decidedIn();
    for (const rule of [
      'opt-in',
      'hold',
      'claim eligibility',
      'fencing',
      'retry schedule',
      'transient retries',
      'extra-vars encoding',
      'notification dedup',
    ])
      expect(table.has(rule), `no row for ${rule}`).toBe(true);
    for (const [rule, paths] of table) {
      expect(paths, `${rule}: one path`).toHaveLength(1);
      expect(existsSync(join(REPO_ROOT, paths[0] as string)), `${rule}: ${paths[0]} does not exist`).toBe(
        true,
      );
    }
  });

  it('has every section the code and docs point at by name', () => {
    const pointers = repositoryTexts().flatMap((file) =>
      [...file.text.matchAll(/docs\/architecture\.md "([^"]+)"/g)].map((m) => ({
        file: file.path,
        section: m[1] as string,
      })),
    );
    expect(pointers.length).toBeGreaterThan(10);
    expect(pointers.filter((p) => !HEADINGS.includes(p.section))).toEqual([]);
  });

  it('links only to its own sections and to files that exist', () => {
    const anchors = new Set(
      HEADINGS.map((h) =>
        h
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const [, target] of DOC.matchAll(/\]\(([^)]+)\)/g)) {
      if (target?.startsWith('#')) expect(anchors.has(target.slice(1)), target).toBe(true);
      else if (target && !/^https?:/.test(target))
        expect(existsSync(join(REPO_ROOT, 'docs', target)), target).toBe(true);
    }
  });

  it('is the design the repository refers to: no reference to a design sketch or style guide outside it', () => {
    const outside = repositoryTexts().filter(
      (file) =>
        file.path !== 'test/architecture/architecture-doc.test.ts' &&
        /DESIGN \u00a7|STYLE\.md/.test(file.text),
    );
    expect(outside.map((file) => file.path)).toEqual([]);
  });
});
