/** The pure scoring domain: no AWS, no I/O, time always a parameter. */

export * from './conditions.ts';
export * from './decay.ts';
export { defaultModelInput, defaultModelWith } from './default-model.ts';
export * from './email-domains.ts';
export * from './events.ts';
export * from './explain.ts';
export * from './fit.ts';
export * from './handoff.ts';
export * from './identity.ts';
export * from './lead.ts';
export * from './model.ts';
export * from './score.ts';
