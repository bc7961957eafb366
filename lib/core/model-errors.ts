import type * as z from 'zod/mini';

/**
 * A scoring model's problems in words (lib/core/model.ts `parseModel`, docs/scoring-model.md, "Errors"): each
 * as `<source>: <path.to.field>: <what was expected>`, and a file that is not JSON by its line and column.
 */

/**
 * A model that cannot be used, with every problem as `<source>: <path.to.field>: <what was expected>`.
 * It carries no stack frames: where in our code the check ran is no help to the operator reading it.
 */
export class ModelError extends Error {
  readonly source: string;
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    super(
      `invalid scoring model ${source} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((problem) => `  ${problem}`).join('\n')}`,
    );
    this.name = 'ModelError';
    this.source = source;
    this.problems = problems;
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** `behavior.rules[3].points`; the model itself is `(top level)`. */
function pathText(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : `${text ? '.' : ''}${String(key)}`;
  return text || '(top level)';
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

function shown(input: unknown): string {
  if (input === undefined) return 'nothing (missing)';
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'an object';
  const text = JSON.stringify(input);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One zod issue as `path: expected ..., got ...`; a union's issues are those of the variant that came closest. */
export function describeIssue(issue: z.core.$ZodIssue, base: readonly PropertyKey[]): string[] {
  const path = [...base, ...issue.path];
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type': {
      const expected = issue.expected === 'array' ? 'list' : issue.expected;
      return [`${pathText(path)}: ${input === undefined ? `missing: expected ${article(expected)}` : `expected ${article(expected)}, got ${shown(input)}`}`];
    }
    case 'unrecognized_keys':
      return issue.keys.map((key) => `${pathText([...path, key])}: unknown key (a typo? unknown keys are refused so they cannot be silently ignored)`);
    case 'invalid_value':
      return [`${pathText(path)}: expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}, got ${shown(input)}`];
    case 'too_small':
      return [
        `${pathText(path)}: expected ${issue.origin === 'array' ? `at least ${issue.minimum} item(s)` : issue.origin === 'string' ? `at least ${issue.minimum} character(s)` : `a number ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`}, got ${shown(input)}`,
      ];
    case 'too_big':
      return [
        `${pathText(path)}: expected ${issue.origin === 'array' ? `at most ${issue.maximum} item(s)` : `a number ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`}, got ${shown(input)}`,
      ];
    case 'invalid_union': {
      const closest = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      const problems = closest.flatMap((inner) => describeIssue(inner, path));
      return problems.length > 0 ? problems : [`${pathText(path)}: expected ${issue.message}, got ${shown(input)}`];
    }
    case 'invalid_format':
      return [
        `${pathText(path)}: ${issue.message.startsWith('expected') ? issue.message : issue.message.startsWith('Invalid') ? `expected ${issue.format === 'regex' ? `text matching ${issue.pattern}` : issue.format}` : `expected ${issue.message}`}, got ${shown(input)}`,
      ];
    default:
      return [
        `${pathText(path)}: ${issue.message.startsWith('expected') || issue.message.startsWith('missing') ? issue.message : issue.message.replace(/^Invalid input: /, '')}${issue.code === 'custom' && input !== undefined && typeof input !== 'object' && !issue.message.includes(', got ') ? `, got ${shown(input)}` : ''}`,
      ];
  }
}

/** "line 3 column 6: not valid JSON: Expected ':' after property name". */
export function jsonSyntaxProblem(text: string, message: string): string {
  const located = /^(.*?)(?: in JSON)? at position (\d+)(?: \(line (\d+) column (\d+)\))?/s.exec(message);
  if (!located) return `not valid JSON: ${message}`;
  let line = Number(located[3]);
  let column = Number(located[4]);
  if (!located[3]) {
    const before = text.slice(0, Number(located[2]));
    line = before.split('\n').length;
    column = before.length - before.lastIndexOf('\n');
  }
  return `line ${line} column ${column}: not valid JSON: ${located[1]}`;
}
