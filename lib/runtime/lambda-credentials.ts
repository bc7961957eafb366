/**
 * What a Lambda bundle holds in place of `@aws-sdk/credential-provider-node`: cdk/constructs/mql-function.ts
 * aliases that package to this file when esbuild bundles a function, and to nothing else.
 *
 * Every SDK client's runtime configuration imports the node provider chain (environment, SSO, INI profiles,
 * credential_process, web identity, ECS and EC2 metadata, with the STS/SSO clients they call) statically, so
 * passing `credentials` to a client does not keep it out of a bundle. A Lambda function only ever finds its
 * execution role's credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, set by the runtime), the first link of that chain: here the chain is that link alone.
 * Unbundled code (`mql --aws`, the local stack, the tests) still resolves the real package and its full
 * chain: profiles and SSO on an operator's machine, the local stack's environment credentials.
 * docs/benchmarks.md ("Cold start") has the bytes and milliseconds this saves.
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';

/** The SDK's default credential provider, as a Lambda bundle has it: environment credentials only. */
export const defaultProvider: typeof fromEnv = (init) => fromEnv(init);
