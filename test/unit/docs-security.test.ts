/**
 * docs/security.md's tables are the code's own description: each route with its declared authentication (the
 * same text cdk-nag's APIG4 acknowledgement carries), each function with its table actions, queues and secrets,
 * each secret with its keys and readers. The tables are rendered here from lib/topology.ts; the page's must have
 * the same cells (its columns padded or not).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type FunctionSpec, functions, type RouteSpec, routes, secretGroupOf, secretGroups, secretKeysOf, table } from '../../lib/topology.ts';

const page = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
const code = (text: string) => `\`${text}\``;
const functionEntries = Object.entries(functions) as [string, FunctionSpec][];

/** A table's rows as their cells, trimmed (the formatter pads columns), the `---` rule left out. */
function cells(lines: readonly string[]): string[][] {
  return lines
    .filter((line) => !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

/** The markdown table after `<!-- table: name ... -->` in the page, as cells. */
function tableOfPage(name: string): string[][] {
  const start = page.indexOf(`<!-- table: ${name} `);
  expect(start, `docs/security.md has the marker of the ${name} table`).toBeGreaterThan(-1);
  const lines = page.slice(start).split('\n').slice(1);
  return cells(
    lines.slice(
      0,
      lines.findIndex((line) => !line.startsWith('|')),
    ),
  );
}

const routesTable = [
  '| route | function | authentication |',
  '| --- | --- | --- |',
  ...(routes as readonly RouteSpec[]).map(
    (route) => `| ${code(`${route.method} ${route.path}`)} | ${code(route.handler)} | ${route.authentication.replaceAll('|', '\\|')} |`,
  ),
];

const functionsTable = [
  '| function | table actions | sends to | secrets it reads |',
  '| --- | --- | --- | --- |',
  ...functionEntries.map(([name, spec]) => {
    const confined = 'writesUnder' in spec.table ? ` (writes only in ${code(`${spec.table.writesUnder}…`)} partitions)` : '';
    const actions = [
      `${spec.table.actions.join(', ')}${confined}`,
      ...(spec.table.queriesDueIndex ? [`Query on the ${code(table.dueIndex.name)} index`] : []),
    ].filter((text) => text !== '');
    const sends = [...spec.sendsTo.map(code), ...(spec.deadLettersTo ?? []).map((queue) => `${code(queue)} DLQ`)];
    const groups = [...new Set(secretKeysOf(spec).map(secretGroupOf))];
    return `| ${code(name)} | ${actions.join(', ') || 'none'} | ${sends.join(', ') || 'nothing'} | ${groups.map(code).join(', ')} |`;
  }),
];

const secretsTable = [
  '| secret | keys | read by |',
  '| --- | --- | --- |',
  ...Object.entries(secretGroups).map(([group, keys]) => {
    const readers = functionEntries.filter(([, spec]) => secretKeysOf(spec).some((key) => (keys as readonly string[]).includes(key))).map(([name]) => name);
    return `| ${code(group)} | ${keys.map(code).join(', ')} | ${readers.length === functionEntries.length ? 'every function' : readers.map(code).join(', ')} |`;
  }),
];

describe('docs/security.md', () => {
  it("has each route with the authentication its topology declares, the text of cdk-nag's acknowledgement", () => {
    expect(tableOfPage('routes')).toEqual(cells(routesTable));
  });

  it('has each function with exactly its table actions, queues and secrets', () => {
    expect(tableOfPage('functions')).toEqual(cells(functionsTable));
  });

  it('has each secret with its keys and the functions that read it', () => {
    expect(tableOfPage('secrets')).toEqual(cells(secretsTable));
  });

  it('is linked from the docs index and the README', () => {
    expect(readFileSync(new URL('../../docs/README.md', import.meta.url), 'utf8')).toContain('(security.md)');
    expect(readFileSync(new URL('../../README.md', import.meta.url), 'utf8')).toContain('(docs/security.md)');
  });
});
