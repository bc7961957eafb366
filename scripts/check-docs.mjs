#!/usr/bin/env node
// Checks the README and docs/ against the repository:
// - every relative markdown link resolves to a file or folder (and, for a markdown target, its #anchor
//   to a heading of that file);
// - every repository path named in code (`lib/...`, `bin/...`, `test/...`, `cdk/...`, `lambdas/...`,
//   `scripts/...`, `bench/...`, `examples/...`, `docs/...`) exists; placeholders such as
//   `lib/sources/<name>.ts` are skipped;
// - no page cites the design notes kept outside the repository (`shared/...`, `DESIGN.md`);
// - every sample-output marker `<!-- output: <command> -->` is followed by a fenced block.
// Code files that still cite those outside notes are listed as warnings (errors with --strict).
// Exits 1 with the list of problems, 0 when everything resolves. Plain JavaScript, no dependencies.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');

/** The markdown files checked: the README, every page under docs/, and the local stack's README. */
function markdownFiles() {
  const files = ['README.md', 'lib/local/README.md'].filter((file) => existsSync(join(root, file)));
  const walk = (dir) => {
    if (!existsSync(join(root, dir))) return;
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  return files;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading) {
  return heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const anchorCache = new Map();
/** The anchors of a markdown file (repeated headings get -1, -2, ... as on GitHub). */
function anchorsOf(file) {
  if (anchorCache.has(file)) return anchorCache.get(file);
  const anchors = new Set();
  const counts = new Map();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const match = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!match) continue;
    const base = slug(match[1]);
    const seen = counts.get(base) ?? 0;
    counts.set(base, seen + 1);
    anchors.add(seen === 0 ? base : `${base}-${seen}`);
  }
  for (const match of readFileSync(file, 'utf8').matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(match[1]);
  anchorCache.set(file, anchors);
  return anchors;
}

/** The text outside fenced blocks, and the fenced blocks, of a markdown file (line numbers kept). */
function split(text) {
  const prose = [];
  const code = [];
  let fenced = false;
  text.split('\n').forEach((line, index) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      prose.push({ line: '', number: index + 1 });
      return;
    }
    (fenced ? code : prose).push({ line, number: index + 1 });
    if (fenced) prose.push({ line: '', number: index + 1 });
  });
  return { prose, code };
}

const pathRoots = ['lib', 'bin', 'test', 'cdk', 'lambdas', 'scripts', 'bench', 'examples', 'docs'];
const pathToken = new RegExp(`(?:^|[\\s(="'\`])((?:${pathRoots.join('|')})/[A-Za-z0-9_./<>{}*+-]*)`, 'g');

/** Repository paths named in a piece of code, placeholders left out. */
function pathsIn(code) {
  const found = [];
  for (const match of code.matchAll(pathToken)) {
    let path = match[1].replace(/[.,:;)]+$/, '');
    if (/[<>{}*]/.test(path)) continue; // lib/sources/<name>.ts, test/**: a pattern, not a file
    if (path.endsWith('/')) path = path.slice(0, -1);
    found.push(path);
  }
  return found;
}

const problems = [];
const warnings = [];
// The design notes and the compiled wire-format notes the project was started from live outside the
// repository; what the code relies on from them is in docs/. A section sign without an RFC before it
// (`§1.4`, `README §13.9`) is a section of those notes.
const outsideNotes = /shared\/(formats|seeds|hooks|DESIGN|STYLE)|\bDESIGN\.md\b|formats README|(?<!RFC \d+ )§\d/;

for (const file of markdownFiles()) {
  const absolute = join(root, file);
  const text = readFileSync(absolute, 'utf8');
  const { prose, code } = split(text);
  const where = (number) => `${file}:${number}`;

  for (const { line, number } of prose) {
    // Links: [text](target) and ![alt](target); reference definitions [id]: target.
    const targets = [...line.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => match[1]);
    const definition = /^\s*\[[^\]]+\]:\s*(\S+)/.exec(line);
    if (definition) targets.push(definition[1]);
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [pathPart, anchor] = target.split('#');
      const resolved = pathPart === '' ? absolute : resolve(dirname(absolute), decodeURIComponent(pathPart));
      if (!resolved.startsWith(root)) {
        problems.push(`${where(number)}: link ${target} leaves the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        problems.push(`${where(number)}: link ${target} -> ${relative(root, resolved)} does not exist`);
        continue;
      }
      if (anchor && resolved.endsWith('.md') && statSync(resolved).isFile() && !anchorsOf(resolved).has(anchor)) {
        problems.push(`${where(number)}: link ${target}: no heading #${anchor} in ${relative(root, resolved)}`);
      }
    }
    for (const span of line.matchAll(/`([^`]+)`/g)) {
      for (const path of pathsIn(span[1])) {
        if (!existsSync(join(root, path))) problems.push(`${where(number)}: \`${path}\` does not exist`);
      }
    }
    if (outsideNotes.test(line)) problems.push(`${where(number)}: cites notes kept outside the repository: ${line.trim().slice(0, 120)}`);
  }

  for (const { line, number } of code) {
    for (const path of pathsIn(line)) {
      if (!existsSync(join(root, path))) problems.push(`${where(number)}: \`${path}\` (in a code block) does not exist`);
    }
    if (outsideNotes.test(line)) problems.push(`${where(number)}: cites notes kept outside the repository: ${line.trim().slice(0, 120)}`);
  }

  // Sample-output markers: the next non-empty line opens a fenced block.
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (!/<!--\s*output:/.test(line)) return;
    if (!/<!--\s*output:\s*\S.*-->/.test(line)) problems.push(`${where(index + 1)}: an output marker must name its command: <!-- output: <command> -->`);
    const next = lines.slice(index + 1).find((candidate) => candidate.trim() !== '');
    if (!next || !/^\s*(```|~~~)/.test(next)) problems.push(`${where(index + 1)}: an output marker is not followed by a fenced block`);
  });
}

// Code and configuration that still cite the notes kept outside the repository.
const codeRoots = ['lib', 'lambdas', 'bin', 'cdk', 'test', 'bench', 'scripts', 'examples'];
const walkCode = (dir) => {
  if (!existsSync(join(root, dir))) return;
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) walkCode(path);
    else if (/\.(ts|mjs|js|json)$/.test(entry.name) && path !== 'scripts/check-docs.mjs') {
      readFileSync(join(root, path), 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (outsideNotes.test(line)) (strict ? problems : warnings).push(`${path}:${index + 1}: cites notes kept outside the repository`);
        });
    }
  }
};
for (const dir of codeRoots) walkCode(dir);
for (const file of ['.env.example']) {
  if (!existsSync(join(root, file))) continue;
  readFileSync(join(root, file), 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (outsideNotes.test(line)) problems.push(`${file}:${index + 1}: cites notes kept outside the repository`);
    });
}

for (const warning of warnings) console.warn(`check-docs: warning: ${warning}`);
if (problems.length > 0) {
  for (const problem of problems) console.error(`check-docs: ${problem}`);
  console.error(`check-docs: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`check-docs: ${markdownFiles().length} markdown file(s): every link and path resolves${warnings.length ? ` (${warnings.length} warning(s))` : ''}`);
