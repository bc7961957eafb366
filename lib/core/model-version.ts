import { createHash } from 'node:crypto';
import type { ModelContent, ScoringModel } from './model.ts';

/** A scoring model's identity: its version, and its content apart from what parsing added to it. */

/**
 * What a parsed model says, as a model file says it: without its version and the lists it was parsed with,
 * to change and parse again (`parseModel({ ...modelContent(model), thresholds }, model.domains.maintained)`).
 */
export function modelContent(model: ScoringModel): ModelContent {
  const { version: _version, domains, ...content } = model;
  const { maintained: _maintained, ...ownDomains } = domains;
  return { ...content, domains: ownDomains };
}

/**
 * First 12 hex digits of the SHA-256 of the model's canonical JSON (keys sorted) and of `listsVersion`, the
 * version of the maintained e-mail domain lists (lib/core/email-domains.ts): a model means what it says plus
 * what those lists say, so an update of a list changes every model's version, as a change of the file would.
 */
export function modelVersion(model: unknown, listsVersion: string): string {
  const content = `${canonicalJson(model)}\n${listsVersion}`;
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([key, entry]) => entry !== undefined && key !== 'version')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
