/**
 * The layout that shows the architecture (docs/architecture.md), checked so it cannot drift: lib/core
 * imports nothing outside itself, no folder of lib/ imports a folder that imports it back (directly or
 * through others), and a file of lib/ stays small enough to hold in the head.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const lib = join(root, 'lib');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** A file's folder under lib/ (`lib/topology.ts` is a folder of its own). */
const folderOf = (file: string) => relative(lib, file).split('/')[0]!.replace(/\.ts$/, '');

/** The lib/ files each file imports (static and dynamic relative imports). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)]
    .map((match) => resolve(dirname(file), match[1]!))
    .filter((target) => target.startsWith(lib));
}

const files = filesUnder(lib);
const edges = new Map<string, Set<string>>();
for (const file of files) {
  for (const target of importsOf(file)) {
    const from = folderOf(file);
    const to = folderOf(target);
    if (from !== to) edges.set(from, new Set([...(edges.get(from) ?? []), to]));
  }
}

/** Files allowed above the size limit, each with why. */
const largeFiles: Record<string, string> = {
  'lib/local/stand-ins/hubspot.ts':
    "a stand-in of HubSpot's contacts, properties and webhook APIs, strict as their documentation: one server, test and demo code only",
  'lib/local/stand-ins/hubspot-companies.ts':
    'the companies half of the HubSpot stand-in: batch read, upsert and update, search, properties and the v4 associations, strict as their documentation: test and demo code only',
  'lib/local/stand-ins/salesforce.ts': "a stand-in of Salesforce's OAuth, sObject, Collections and SOQL resources with their errors and limits: one server",
  'lib/local/demo-population.ts': 'the seeded population of `mql demo --with-outcomes`: leads, their journeys and the sales outcomes drawn for them',
  'lib/sources/postmark.ts': "Postmark's six record types and its 22 documented bounce types: one provider's quirks, kept in its one file",
  'lib/topology.ts':
    'the one description of what runs where: every function with the table actions and secrets it is granted, every route with how it is authenticated (cdk/, lib/local/ and docs/security.md read it)',
  'lib/sources/mailgun.ts': "Mailgun's signature, token replay guard and eleven event kinds: one provider's quirks, kept in its one file",
};
const maxLines = 450;

describe('the layout of lib/', () => {
  it('keeps lib/core pure: it imports nothing outside itself', () => {
    expect([...(edges.get('core') ?? [])]).toEqual([]);
  });

  it('has no folder cycle: no folder imports a folder that imports it back, directly or through others', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (folder: string) => {
      state.set(folder, 'open');
      path.push(folder);
      for (const next of edges.get(folder) ?? []) {
        if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(folder, 'done');
    };
    for (const folder of edges.keys()) if (!state.has(folder)) visit(folder);
    expect(cycles).toEqual([]);
  });

  it(`keeps every file under ${maxLines} lines, but for the ones named with why`, () => {
    const large = files
      .map((file) => ({ file: relative(root, file), lines: readFileSync(file, 'utf8').split('\n').length }))
      .filter(({ file, lines }) => lines > maxLines && !(file in largeFiles));
    expect(large).toEqual([]);
  });
});
