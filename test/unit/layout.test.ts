/**
 * The layout that shows the architecture (docs/architecture.md), checked so it cannot drift: lib/core
 * imports nothing outside itself and no module that does I/O (files, processes, the network, AWS), no folder
 * of lib/ imports a folder that imports it back (directly or through others), and a file of lib/ stays small
 * enough to hold in the head.
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

const coreDir = `${join(lib, 'core')}/`;

/** Every module a source text names: `import`/`export … from`, `import 'x'`, `import('x')` and `require('x')`. */
function moduleSpecifiers(text: string): string[] {
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]/g];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1]!));
}

/** Node's modules that read or write files, start processes or talk to the network, with or without `node:`. */
const ioModules = /^(?:node:)?(?:fs|fs\/promises|module|child_process|net|tls|dgram|http|https|http2)$/;

/**
 * What a lib/core file imports that the core may not (docs/architecture.md, "Layout": no AWS, no I/O): a module
 * of {@link ioModules}, the AWS SDK, or a file of lib/ outside lib/core. `file` is the file's path, `text` its source.
 */
function coreImpurities(file: string, text: string): string[] {
  return moduleSpecifiers(text).filter((specifier) => {
    if (ioModules.test(specifier) || specifier.startsWith('@aws-sdk/')) return true;
    if (!specifier.startsWith('.')) return false;
    const target = resolve(dirname(file), specifier);
    return !target.startsWith(coreDir);
  });
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

  it('keeps lib/core free of I/O: no file of it imports node:fs, node:module, child processes, the network, the AWS SDK or lib/ outside lib/core', () => {
    const core = files.filter((file) => file.startsWith(coreDir));
    expect(core.length).toBeGreaterThan(10);
    const impure = core.flatMap((file) => coreImpurities(file, readFileSync(file, 'utf8')).map((specifier) => `${relative(root, file)}: ${specifier}`));
    expect(impure).toEqual([]);
  });

  it('the I/O check catches each way of importing such a module, as lib/core/email-domains.ts once read its lists', () => {
    const file = join(lib, 'core', 'example.ts');
    // The imports lib/core/email-domains.ts had when it read the lists' JSON files itself.
    expect(coreImpurities(file, "import { createRequire } from 'node:module';\nimport { domainToASCII } from 'node:url';")).toEqual(['node:module']);
    const source = [
      "import { readFileSync } from 'fs';",
      "import type { Readable } from 'node:fs/promises';",
      "import { spawn } from 'node:child_process';",
      "export { request } from 'node:https';",
      "import 'node:http';",
      "const net = await import('node:net');",
      "const sdk = require('@aws-sdk/client-dynamodb');",
      "import { loadModel } from '../runtime/model-config.ts';",
      "import { parse } from './model.ts';",
      "import { createHash } from 'node:crypto';",
      "import * as z from 'zod/mini';",
    ].join('\n');
    expect(coreImpurities(file, source).sort()).toEqual(
      ['fs', 'node:fs/promises', 'node:child_process', 'node:https', 'node:http', 'node:net', '@aws-sdk/client-dynamodb', '../runtime/model-config.ts'].sort(),
    );
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
