/**
 * A local stand-in for AWS Secrets Manager's JSON API, for the two calls the code makes (GetSecretValue,
 * PutSecretValue), driven by the real SDK client through AWS_ENDPOINT_URL_SECRETS_MANAGER. No emulator of
 * Secrets Manager installs from the registries this project uses, so this one is kept as strict as the API
 * reference on what these calls send and answer: the JSON 1.1 protocol (`X-Amz-Target:
 * secretsmanager.<Operation>`, `application/x-amz-json-1.1`), a SigV4 `Authorization` header for the
 * `secretsmanager` service, `SecretId` as an ARN or a name, a `ClientRequestToken` of 32 to 64 characters on a
 * put, a `SecretString` of at most 65,536 bytes, and its errors (`ResourceNotFoundException`,
 * `InvalidParameterException`, `InvalidRequestException`) with their `__type`. It records every call, so a test
 * can say which secrets a function asked for.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StoredSecret {
  readonly arn: string;
  readonly name: string;
  secretString: string | undefined;
  versionId: string;
}

export interface SecretsManagerStandIn {
  readonly endpoint: string;
  /** Every call: its operation and the SecretId asked for. */
  readonly calls: { operation: string; secretId: string }[];
  /** Creates a secret (as CloudFormation would) and answers its ARN. */
  create(name: string, value?: Record<string, string>): string;
  /** The JSON object a secret holds now. */
  stored(arn: string): Record<string, string> | undefined;
  stop(): Promise<void>;
}

const region = 'us-east-1';
const account = '123456789012';

export async function startSecretsManager(): Promise<SecretsManagerStandIn> {
  const secrets = new Map<string, StoredSecret>();
  const calls: { operation: string; secretId: string }[] = [];
  const find = (id: unknown) => (typeof id === 'string' ? [...secrets.values()].find((secret) => secret.arn === id || secret.name === id) : undefined);

  const fail = (response: ServerResponse, type: string, message: string) => {
    response.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ __type: type, message }));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const target = request.headers['x-amz-target'];
    const authorization = request.headers.authorization ?? '';
    if (request.method !== 'POST' || request.url !== '/') return fail(response, 'UnknownOperationException', 'POST / only');
    if (request.headers['content-type'] !== 'application/x-amz-json-1.1')
      return fail(response, 'SerializationException', 'expected application/x-amz-json-1.1');
    if (
      !/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/secretsmanager\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.test(authorization)
    ) {
      response
        .writeHead(403, { 'content-type': 'application/x-amz-json-1.1' })
        .end(JSON.stringify({ __type: 'MissingAuthenticationTokenException', message: 'not signed' }));
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return fail(response, 'SerializationException', 'the body is not JSON');
    }
    const operation = typeof target === 'string' && target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : '';
    calls.push({ operation, secretId: String(body.SecretId) });
    const secret = find(body.SecretId);
    switch (operation) {
      case 'GetSecretValue': {
        if (!secret) return fail(response, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
        if (secret.secretString === undefined)
          return fail(response, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT");
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(
          JSON.stringify({
            ARN: secret.arn,
            Name: secret.name,
            VersionId: secret.versionId,
            SecretString: secret.secretString,
            VersionStages: ['AWSCURRENT'],
            CreatedDate: Date.now() / 1000,
          }),
        );
        return;
      }
      case 'PutSecretValue': {
        if (!secret) return fail(response, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
        const token = body.ClientRequestToken;
        if (typeof token !== 'string' || token.length < 32 || token.length > 64)
          return fail(response, 'InvalidParameterException', 'ClientRequestToken must be 32 to 64 characters');
        if ((body.SecretString === undefined) === (body.SecretBinary === undefined)) {
          return fail(response, 'InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
        }
        if (typeof body.SecretString !== 'string' || Buffer.byteLength(body.SecretString) > 65_536) {
          return fail(response, 'InvalidParameterException', 'SecretString must be a string of at most 65536 bytes');
        }
        secret.secretString = body.SecretString;
        secret.versionId = token;
        response
          .writeHead(200, { 'content-type': 'application/x-amz-json-1.1' })
          .end(JSON.stringify({ ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: ['AWSCURRENT'] }));
        return;
      }
      default:
        return fail(response, 'UnknownOperationException', `operation ${String(target)} is not served by this stand-in`);
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      response.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    create(name, value) {
      const arn = `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${randomUUID().slice(0, 6)}`;
      secrets.set(arn, { arn, name, secretString: value === undefined ? undefined : JSON.stringify(value), versionId: randomUUID() });
      return arn;
    },
    stored(arn) {
      const text = secrets.get(arn)?.secretString;
      return text === undefined ? undefined : (JSON.parse(text) as Record<string, string>);
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
