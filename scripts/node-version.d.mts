/** Types of node-version.mjs for the TypeScript that imports it (the tests). */
export declare const requiredNodeMajor: number;
export declare function nodeVersionProblem(version?: string): string | undefined;
