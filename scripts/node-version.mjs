// The Node.js check shared by scripts/preflight.mjs (`npm start`, `npm test`) and bin/mql.mjs (`npx mql`).
// Plain JavaScript that any Node can load, so an older Node gets this one line instead of a stack trace.

/** The Node.js major version the TypeScript needs: it runs directly through Node's type stripping. */
export const requiredNodeMajor = 24;

/** Why this Node cannot run mql-engine, on one line; undefined when it can. */
export function nodeVersionProblem(version = process.versions.node) {
  const major = Number(String(version).split('.')[0]);
  if (major >= requiredNodeMajor) return undefined;
  return (
    `mql-engine needs Node.js ${requiredNodeMajor} or newer (this is v${String(version).replace(/^v/, '')}): it runs its TypeScript directly with Node ${requiredNodeMajor} type stripping; ` +
    `install it with \`nvm install ${requiredNodeMajor} && nvm use ${requiredNodeMajor}\`, \`fnm use ${requiredNodeMajor}\`, \`volta install node@${requiredNodeMajor}\`, or from https://nodejs.org/`
  );
}
