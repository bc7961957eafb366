#!/usr/bin/env node
/**
 * `mql`: operator commands against the running local stack (default) or AWS (`--aws`).
 * It runs the same library code as the Lambdas, pointed at the stack's table and queues.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { leadIdOf } from '../lib/core/events.ts';
import { dlqUrlEnv, queueUrlEnv, tableNameEnv } from '../lib/topology.ts';
import type { LeadView } from '../lib/views/lead-view.ts';
import { outcomeLine } from '../lib/views/lead-view.ts';

const usage = `usage: mql <command> [options]

commands:
  decay [--now ISO]     run the decay job once (recycles MQLs whose score fell below recycleBelow)
  explain <email>       print a lead's score and every reason behind it  [--json] [--now ISO]
  send <file.json|->    sign Segment message(s) with EVENTS_WEBHOOK_SECRET and POST them to the local stack
  receive [--port N]    a local CRM webhook receiver (default port 4000): verifies CRM_WEBHOOK_SECRET, prints each handoff
  stand-in hubspot|salesforce [--port N]
                        a local HubSpot (default port 4002) or Salesforce (4003) stand-in until Ctrl-C, accepting
                        HUBSPOT_ACCESS_TOKEN, or SALESFORCE_CLIENT_ID / _CLIENT_SECRET / _EXTERNAL_ID_FIELD, from .env: prints
                        the env lines that point npm start at it, then each call and each contact / Lead change on a line
  crm setup             HubSpot: create the mql_engine property group and the mql_* contact properties the adapter writes
                        (existing ones are left as they are; a second run creates nothing), with HUBSPOT_ACCESS_TOKEN at
                        HUBSPOT_BASE_URL (default https://api.hubapi.com); checks the HUBSPOT_*_LEAD_STATUS values
  demo                  against the running npm start: a Facebook lead (Graph API stand-in) and a SendGrid batch make an MQL
  demo --with-outcomes [--leads N] [--seed N]
                        a seeded population (default 500 leads over ~6 months) through POST /webhooks/events, then sales
                        outcomes for its MQLs through POST /webhooks/crm; the same seed posts the same events again (idempotent)
  report [--out FILE] [--since DATE] [--json] [--now ISO]
                        funnel, MQL -> SQL by source and month, score at MQL vs rejected, rejection reasons, time to MQL,
                        as text; --out also writes them as a self-contained HTML page with charts
  rescore [--model FILE] [--resume] [--now ISO]
                        rebuild every lead from its stored events under the model (default: MQL_MODEL_PATH or the default
                        model), write only leads whose state changes, hand off the transitions; the cursor is kept in
                        <data dir>/rescore-cursor.json after every page: --resume continues an interrupted run
  backtest --model FILE [--since DATE] [--json] [--now ISO]
                        replay the stored events under FILE and the current model without writing anything: MQLs,
                        leads newly / no longer qualifying, MQL -> SQL and MQL -> won rates; --since: leads first seen since DATE
  calibrate [--out FILE] [--since DATE] [--json]
                        fit a logistic regression of reaching SQL on each rule's points as sales judged the leads: each
                        rule's coefficient next to its points, precision / recall at thresholds, and a proposed model with
                        points rescaled from the coefficients written to FILE (default proposed-model.json) for backtest;
                        --since: outcomes judged since DATE. Needs 30 judged leads, 10 reaching SQL and 10 not
  redrive [--queue handoff|facebook-leads] [--dry-run]
                        move the dead-letter queue's messages back to their queue (default handoff) once the cause is
                        fixed; prints the count first, then progress; --dry-run prints the count and the errors only
  deliveries <email|leadId> [--json]
                        each handoff of the lead to the CRM and every attempt: time, adapter, CRM status, outcome, error, CRM id

options:
  --aws                 work on the AWS stack: needs ${tableNameEnv} and ${queueUrlEnv('handoff')} (the stack's outputs) and AWS credentials
  --data-dir DIR        where the local stack keeps its state (default MQL_DATA_DIR or .mql/)
  -h, --help            this text`;

interface LocalStackInfo {
  baseUrl: string;
  dynamoEndpoint: string;
  sqsEndpoint: string;
  tableName: string;
  queueUrls: Record<string, string>;
  dlqUrls?: Record<string, string>;
}

function fail(message: string): never {
  process.stderr.write(`mql: ${message}\n`);
  process.exit(1);
}

/** Points the SDK and the pipeline at the running local stack, as the local stack does for its Lambdas. */
function useLocalStack(dataDir: string): LocalStackInfo {
  const file = resolve(dataDir, 'stack.json');
  if (!existsSync(file)) fail(`no local stack is running (no ${file}); start one with \`npm start\`, or pass --aws`);
  const stack = JSON.parse(readFileSync(file, 'utf8')) as LocalStackInfo;
  process.env[tableNameEnv] = stack.tableName;
  for (const [queue, url] of Object.entries(stack.queueUrls)) process.env[queueUrlEnv(queue as 'handoff')] = url;
  for (const [queue, url] of Object.entries(stack.dlqUrls ?? {})) process.env[dlqUrlEnv(queue as 'handoff')] = url;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = stack.dynamoEndpoint;
  process.env.AWS_ENDPOINT_URL_SQS = stack.sqsEndpoint;
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  return stack;
}

function parseNow(value: string | undefined): Date {
  const now = value ? new Date(value) : new Date();
  if (Number.isNaN(now.getTime())) fail(`--now must be an ISO time, e.g. 2027-01-01T00:00:00Z (got ${value})`);
  return now;
}

/** `--since` of backtest, calibrate and report: undefined when not given. */
function parseSince(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const since = new Date(value);
  if (Number.isNaN(since.getTime())) fail(`--since must be a date or ISO time, e.g. 2026-09-01 (got ${value})`);
  return since;
}

/** A model file, validated as MQL_MODEL_PATH is; a bad one stops the command with the path and what is wrong. */
async function modelFile(path: string) {
  const { loadModel } = await import('../lib/runtime/model-config.ts');
  try {
    return loadModel({ MQL_MODEL_PATH: resolve(path) });
  } catch (error) {
    fail(`--model ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** How a cap shows in the notes column: "cap 15 reached (-3.2)", "group seniority max 15 reached (-10)". */
function capNote(cap: NonNullable<LeadView['reasons'][number]['caps']>[number]): string {
  const what = cap.by === 'rule' ? `cap ${Math.abs(cap.limit)}` : `group ${cap.name} ${cap.cut >= 0 ? 'max' : 'min'} ${cap.limit}`;
  return `${what} reached (${cap.cut >= 0 ? '-' : '+'}${Math.abs(cap.cut)})`;
}

/** A lead's explanation as a readable table: the whole-point column adds up to the score. */
export function formatExplanation(view: LeadView): string {
  const { score } = view;
  const lines = [
    `${view.leadId}  status ${view.status}${view.mqlAt ? ` (MQL since ${view.mqlAt})` : ''}`,
    `score ${score.total} = fit ${score.fit} + behavior ${score.behavior}   model ${score.modelVersion}   as of ${view.scoredAt}`,
  ];
  if (view.thresholds) {
    const { mql, minFit, minBehavior, recycleBelow } = view.thresholds;
    lines.push(`thresholds: mql ${mql}, minFit ${minFit}, minBehavior ${minBehavior}, recycleBelow ${recycleBelow}`);
  } else lines.push(`threshold ${score.threshold}`);
  for (const sentence of view.summary ?? []) lines.push(`  ${sentence}`);
  if (!view.summary && view.recyclesAt) lines.push(`recycles at ${view.recyclesAt} unless it engages again`);
  if (view.outcome) lines.push(outcomeLine(view.outcome));
  lines.push('');
  const header = ['rule', 'kind', 'points', 'exact', 'raw', 'decayed', 'count', 'last seen', 'notes'];
  const rows = view.reasons.map((reason) => [
    reason.rule,
    reason.kind,
    String(reason.points ?? Math.round(reason.pointsNow)),
    reason.pointsNow.toFixed(2),
    String(reason.rawPoints),
    reason.decayedPoints === undefined ? '' : reason.decayedPoints.toFixed(2),
    String(reason.count),
    reason.lastSeen ?? '',
    [
      ...(reason.caps ?? []).map(capNote),
      ...(reason.kind === 'behavior'
        ? [reason.halfLifeDays === null ? 'never decays' : reason.halfLifeDays === undefined ? '' : `half-life ${reason.halfLifeDays} d`]
        : []),
      ...(reason.group && !(reason.caps ?? []).some((cap) => cap.by === 'group') ? [`group ${reason.group}`] : []),
    ]
      .filter(Boolean)
      .join('; '),
  ]);
  const numeric = new Set([2, 3, 4, 5, 6]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const render = (row: string[]) =>
    row
      .map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  lines.push(render(header), render(widths.map((width) => '-'.repeat(width))), ...rows.map(render));
  if (rows.length === 0) lines.push('(no reasons: nothing scored yet)');
  else lines.push(render(['total', '', String(score.total), '', '', '', '', '', 'the points column adds up to the score']));
  const withEvents = view.reasons.filter((reason) => reason.events?.length);
  if (withEvents.length > 0) {
    lines.push('', 'events behind the behavior rules (latest few the lead keeps):');
    for (const reason of withEvents) {
      for (const event of reason.events!) {
        const properties = Object.entries(event.properties)
          .map(([key, value]) => `${key}=${String(value)}`)
          .join(' ');
        lines.push(`  ${reason.rule.padEnd(widths[0]!)}  ${event.occurredAt}  ${event.type} via ${event.source}${properties ? `  ${properties}` : ''}`);
      }
    }
  }
  if (view.handoffs.length > 0) {
    lines.push('', 'handoffs:');
    for (const handoff of view.handoffs) {
      lines.push(
        `  ${handoff.occurredAt}  ${handoff.type}  ${handoff.status}${handoff.supersededBy ? ` by ${handoff.supersededBy} (not sent)` : ''}  attempts ${handoff.attempts}${handoff.crmStatus ? `  crm ${handoff.crmStatus}` : ''}${handoff.lastError && handoff.status === 'failed' ? `  last error: ${handoff.lastError}` : ''}`,
      );
    }
  }
  return lines.join('\n');
}

/** `mql demo --with-outcomes`: the seeded population and its sales outcomes, for report and calibrate. */
async function populationDemo(baseUrl: string, leads: string | undefined, seed: string | undefined): Promise<void> {
  const whole = (value: string | undefined, name: string) => {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) fail(`--${name} must be a whole number, got ${value}`);
    return Number(value);
  };
  const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
  const { runPopulationDemo, PopulationDemoError } = await import('../lib/local/demo-population.ts');
  const { store, model } = pipelineFromEnv();
  const count = whole(leads, 'leads');
  const seedNumber = whole(seed, 'seed');
  try {
    await runPopulationDemo({
      baseUrl,
      env: process.env,
      store,
      model,
      print: (line) => process.stdout.write(`${line}\n`),
      ...(count !== undefined ? { leads: count } : {}),
      ...(seedNumber !== undefined ? { seed: seedNumber } : {}),
    });
  } catch (error) {
    if (error instanceof PopulationDemoError) fail(error.message);
    throw error;
  }
}

/** `mql crm setup`: HubSpot's custom properties, created once; needs no running stack. */
async function crmSetup(args: string[]): Promise<void> {
  if (args[0] !== 'setup' || args.length > 1) fail('usage: mql crm setup');
  const adapter = (process.env.CRM_ADAPTER ?? '').trim().toLowerCase();
  if (adapter !== '' && adapter !== 'hubspot') fail(`crm setup prepares HubSpot; CRM_ADAPTER is ${adapter} (unset it or set it to hubspot to run it)`);
  const { getSecrets } = await import('../lib/runtime/config.ts');
  const { formatHubSpotSetup, setupHubSpot } = await import('../lib/crm/hubspot-setup.ts');
  const { hubSpotSettingsFromEnv } = await import('../lib/crm/hubspot-properties.ts');
  let settings: ReturnType<typeof hubSpotSettingsFromEnv>;
  try {
    settings = hubSpotSettingsFromEnv(process.env, (await getSecrets()).HUBSPOT_ACCESS_TOKEN);
  } catch (error) {
    fail((error as Error).message);
  }
  const result = await setupHubSpot(settings);
  process.stdout.write(`${formatHubSpotSetup(result, settings.baseUrl ?? '')}\n`);
}

/** Runs a verifying CRM webhook receiver until Ctrl-C, printing each handoff with its reasons. */
async function receive(port: number): Promise<void> {
  const secret = process.env.CRM_WEBHOOK_SECRET;
  if (!secret) fail('receive needs CRM_WEBHOOK_SECRET (in .env or the environment), the secret the pipeline signs with');
  const { startCrmReceiver } = await import('../lib/local/stand-ins/crm-receiver.ts');
  const receiver = await startCrmReceiver(secret, {
    port,
    onReceive: ({ webhookId, record }) => {
      const reasons = record.reasons.map((reason) => `${reason.rule} ${reason.pointsNow}`).join(', ');
      process.stdout.write(
        `${record.occurredAt}  ${record.type}  ${record.lead.email ?? record.leadId}  score ${record.score.total} (fit ${record.score.fit} + behavior ${record.score.behavior}, threshold ${record.score.threshold})  webhook-id ${webhookId}\n    reasons: ${reasons}\n`,
      );
    },
  });
  process.stdout.write(`CRM receiver on ${receiver.url} (set CRM_ADAPTER=webhook and CRM_WEBHOOK_URL=${receiver.url}); Ctrl-C stops it\n`);
  await new Promise<void>((resolveStop) => process.once('SIGINT', () => resolveStop()));
  await receiver.close();
}

/** Runs the HubSpot or Salesforce stand-in until Ctrl-C, printing each call and each record change on a line. */
async function standIn(kind: string | undefined, port: number | undefined): Promise<void> {
  const { CrmStandInSettingsError, startCrmStandIn } = await import('../lib/local/crm-stand-in.ts');
  let running: Awaited<ReturnType<typeof startCrmStandIn>>;
  try {
    running = await startCrmStandIn(kind ?? '', process.env, port);
  } catch (error) {
    if (error instanceof CrmStandInSettingsError || (error as NodeJS.ErrnoException).code === 'EADDRINUSE') fail((error as Error).message);
    throw error;
  }
  const name = running.kind === 'hubspot' ? 'HubSpot' : 'Salesforce';
  process.stdout.write(
    `${name} stand-in on ${running.url}; Ctrl-C stops it. set these in .env (or the environment of npm start and npx mql):\n${running.envLines.map((line) => `  ${line}\n`).join('')}${running.nextSteps.map((step) => `- ${step}\n`).join('')}`,
  );
  const print = () => {
    const lines = running.changes();
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  };
  const timer = setInterval(print, 100);
  await new Promise<void>((resolveStop) => process.once('SIGINT', () => resolveStop()));
  clearInterval(timer);
  print();
  await running.close();
  process.stdout.write(`${name} stand-in stopped\n`);
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      now: { type: 'string' },
      aws: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      model: { type: 'string' },
      since: { type: 'string' },
      resume: { type: 'boolean', default: false },
      'with-outcomes': { type: 'boolean', default: false },
      leads: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      queue: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  if (existsSync('.env')) process.loadEnvFile('.env');
  // The commands print their own summary; the library's JSON log lines only when asked (LOG_LEVEL=INFO).
  process.env.LOG_LEVEL ??= 'WARN';
  if (command === 'receive') return receive(Number(values.port ?? 4000));
  if (command === 'stand-in') return standIn(rest[0], values.port === undefined ? undefined : Number(values.port));
  if (command === 'crm') return crmSetup(rest);
  const local = values.aws ? undefined : useLocalStack(values['data-dir'] ?? process.env.MQL_DATA_DIR ?? '.mql');
  if (values.aws && command !== 'redrive' && !process.env[tableNameEnv]) fail(`--aws needs ${tableNameEnv} (the stack's TableName output)`);

  switch (command) {
    case 'decay': {
      const { handler } = await import('../lambdas/decay.ts');
      const summary = await handler({ now: parseNow(values.now).toISOString() });
      const changed =
        Object.entries(summary.changed)
          .map(([status, count]) => `${count} ${status}`)
          .join(', ') || 'none';
      const failed = summary.failed > 0 ? `; ${summary.failed} failed (still due)` : '';
      const end = summary.resumable ? `stopped early, ${summary.due - summary.processed} left due for the next run` : 'complete';
      process.stdout.write(
        `decay as of ${summary.now}: ${summary.due} lead(s) due, ${summary.processed} re-evaluated; now ${changed}; ${summary.handoffs} handoff(s) queued${failed}; ${end}\n`,
      );
      return;
    }
    case 'explain': {
      const asked = leadIdOf(rest[0]);
      if (!asked) fail('explain needs an e-mail address (or a lead key such as phone:+14155550123): mql explain dana@example.com');
      const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
      const { findLeadView } = await import('../lib/views/lead-view.ts');
      const { store, model } = pipelineFromEnv();
      const view = await findLeadView(store, model, asked, parseNow(values.now));
      if (!view) fail(`no lead ${asked}`);
      process.stdout.write(values.json ? `${JSON.stringify(view, null, 2)}\n` : `${formatExplanation(view)}\n`);
      return;
    }
    case 'send': {
      const stack = local ?? fail(`${command} works on the local stack only`);
      const secret = process.env.EVENTS_WEBHOOK_SECRET;
      if (!secret) fail('send needs EVENTS_WEBHOOK_SECRET (in .env or the environment)');
      const source = rest[0];
      if (!source) fail('send needs a JSON file of one Segment message, an array of them, or {"batch": [...]}; - reads standard input');
      const payload = JSON.parse(readFileSync(source === '-' ? 0 : source, 'utf8')) as unknown;
      const messages = Array.isArray(payload) ? payload : [payload];
      const { signStandardWebhook } = await import('../lib/http/standard-webhooks.ts');
      for (const message of messages as Record<string, unknown>[]) {
        // Example files carry no time or id: stamp them now, as an SDK would, so they score as fresh events.
        const body = JSON.stringify({ messageId: `cli-${randomUUID()}`, timestamp: new Date().toISOString(), ...message });
        const id = `msg_${randomUUID()}`;
        const timestamp = Math.floor(Date.now() / 1000);
        const response = await fetch(`${stack.baseUrl}/webhooks/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signStandardWebhook({ secret, id, timestamp, body }),
          },
          body,
        });
        process.stdout.write(`${response.status} ${await response.text()}\n`);
        if (!response.ok) process.exitCode = 1;
      }
      return;
    }
    case 'demo': {
      const stack = local ?? fail(`${command} works on the local stack only`);
      if (values['with-outcomes']) return populationDemo(stack.baseUrl, values.leads, values.seed);
      const { runDemo, DemoError } = await import('../lib/local/demo.ts');
      try {
        await runDemo({ baseUrl: stack.baseUrl, env: process.env, print: (line) => process.stdout.write(`${line}\n`) });
      } catch (error) {
        if (error instanceof DemoError) fail(error.message);
        throw error;
      }
      return;
    }
    case 'rescore': {
      const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
      const { countLeads, formatRescoreSummary, progressLine, runRescore } = await import('../lib/jobs/rescore.ts');
      const pipeline = pipelineFromEnv();
      const model = values.model ? await modelFile(values.model) : pipeline.model;
      if (model.version !== pipeline.model.version) {
        // The leads written now carry this model's due times and scores; the stack keeps scoring with its own.
        process.stderr.write(
          `mql: note: rescoring under ${values.model} (model ${model.version}) while the stack scores with model ${pipeline.model.version}; set MQL_MODEL_PATH to it (locally) or deploy it, or the next events and decay runs score with the old model again\n`,
        );
      }
      const cursorFile = resolve(values['data-dir'] ?? process.env.MQL_DATA_DIR ?? '.mql', 'rescore-cursor.json');
      const tty = process.stderr.isTTY === true;
      const total = tty ? await countLeads(pipeline.store) : undefined;
      const controller = new AbortController();
      // Ctrl-C stops after the page in hand, the cursor saved, instead of half-way through it.
      process.once('SIGINT', () => controller.abort());
      const result = await runRescore(pipeline, {
        model,
        now: parseNow(values.now),
        cursorFile,
        resume: values.resume,
        signal: controller.signal,
        ...(tty ? { onProgress: (progress) => process.stderr.write(`\r${progressLine(progress, total)}\x1b[K`) } : {}),
      });
      if (tty) process.stderr.write('\n');
      process.stderr.write(`${formatRescoreSummary(result)}${result.complete ? '' : ` (cursor in ${cursorFile})`}\n`);
      // Interrupted: not a success for a script that runs it (130, as for Ctrl-C).
      if (!result.complete) process.exit(130);
      return;
    }
    case 'backtest': {
      if (!values.model) fail('backtest needs --model FILE, the candidate model to compare with the current one');
      const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
      const { formatBacktest, runBacktest } = await import('../lib/jobs/backtest.ts');
      const { store, model: current } = pipelineFromEnv();
      const candidate = await modelFile(values.model);
      const since = parseSince(values.since);
      const report = await runBacktest(store, { current, candidate, now: parseNow(values.now), ...(since ? { since } : {}) });
      process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBacktest(report)}\n`);
      return;
    }
    case 'calibrate': {
      const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
      const { formatCalibration, runCalibration, writeProposedModel } = await import('../lib/jobs/calibrate.ts');
      const { NotEnoughOutcomes } = await import('../lib/core/calibrate.ts');
      const { store, model } = pipelineFromEnv();
      const since = parseSince(values.since);
      const out = values.out ?? 'proposed-model.json';
      const report = await runCalibration(store, { model, ...(since ? { since } : {}) }).catch((error: unknown) => {
        if (error instanceof NotEnoughOutcomes) fail(error.message);
        throw error;
      });
      if (report.proposedModel) writeProposedModel(report, out);
      process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCalibration(report, report.proposedModel ? out : undefined)}\n`);
      if (report.refused) fail(`no model written to ${out}: ${report.refused}`);
      return;
    }
    case 'redrive': {
      const { queues } = await import('../lib/topology.ts');
      const name = values.queue ?? 'handoff';
      const spec = queues.find((queue) => queue.name === name) ?? fail(`--queue must be one of ${queues.map((queue) => queue.name).join(', ')} (got ${name})`);
      const from = process.env[dlqUrlEnv(spec.name)];
      const to = process.env[queueUrlEnv(spec.name)];
      if (!from || !to) fail(`redrive needs ${queueUrlEnv(spec.name)} and ${dlqUrlEnv(spec.name)} (the stack's ${spec.name} QueueUrl and DlqUrl outputs)`);
      const { sqs } = await import('../lib/runtime/aws.ts');
      const { peekDeadLetters, progressBar, queueDepth, redrive } = await import('../lib/jobs/redrive.ts');
      const client = sqs();
      const count = await queueDepth(client, from);
      process.stdout.write(`${count} message(s) in the ${spec.name} dead-letter queue\n`);
      if (values['dry-run']) {
        for (const message of await peekDeadLetters(client, from))
          process.stdout.write(`  ${message.messageId}  ${message.error ?? '(no error attribute: dead-lettered by SQS after maxReceiveCount receives)'}\n`);
        process.stdout.write('dry run: nothing moved\n');
        return;
      }
      if (count === 0) return;
      const tty = process.stdout.isTTY === true;
      let lastLine = 0;
      const result = await redrive({
        sqs: client,
        from,
        to,
        onProgress: (moved, total) => {
          if (tty) process.stdout.write(`\r${progressBar(moved, total)}\x1b[K`);
          else if (moved - lastLine >= Math.max(10, Math.ceil(total / 10)) || moved >= total) {
            lastLine = moved;
            process.stdout.write(`moved ${moved}/${total}\n`);
          }
        },
      });
      if (tty) process.stdout.write('\n');
      process.stdout.write(
        `moved ${result.moved} message(s) back to ${spec.name}${result.failed.length ? `; ${result.failed.length} could not be sent and stay on the DLQ (${result.failed[0]!.reason})` : ''}\n`,
      );
      if (result.failed.length > 0) process.exitCode = 1;
      return;
    }
    case 'deliveries': {
      const asked = leadIdOf(rest[0]);
      if (!asked) fail('deliveries needs an e-mail address or a lead key: mql deliveries dana@example.com');
      const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
      const { formatDeliveries, loadDeliveries } = await import('../lib/jobs/deliveries.ts');
      const deliveries = await loadDeliveries(pipelineFromEnv().store, asked);
      process.stdout.write(values.json ? `${JSON.stringify(deliveries, null, 2)}\n` : `${formatDeliveries(deliveries)}\n`);
      return;
    }
    case 'report': {
      const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
      const { buildReport } = await import('../lib/jobs/report/load.ts');
      const { formatReport } = await import('../lib/jobs/report/text.ts');
      const { store, model } = pipelineFromEnv();
      const since = parseSince(values.since);
      const figures = await buildReport(store, { model, now: parseNow(values.now), ...(since ? { since } : {}) });
      process.stdout.write(values.json ? `${JSON.stringify(figures, null, 2)}\n` : `${formatReport(figures)}\n`);
      if (values.out) {
        const { renderReportHtml } = await import('../lib/jobs/report/html.ts');
        writeFileSync(values.out, renderReportHtml(figures));
        process.stderr.write(`mql: wrote ${resolve(values.out)}\n`);
      }
      return;
    }
    default:
      fail(`unknown command "${command}"\n${usage}`);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => fail(error instanceof Error ? error.message : String(error)),
  );
}
