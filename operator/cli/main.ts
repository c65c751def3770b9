#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../api/crds.js';
import { OPERATOR_FLAGS, OPERATOR_USAGE } from '../hub/operator-settings.js';

/**
 * One program, one entry point per role. Each role's module is imported only when it runs, so a
 * client process does not pay for the operator's dependencies at start-up.
 */
interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  positionals?: number;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const str = { type: 'string' } as const;

const commands: Record<string, Command> = {
  simulate: {
    summary: 'run a FederatedJob locally: the aggregator and one client per site as processes, over mTLS gRPC',
    usage: 'flotilla simulate JOB.yaml [--out DIR] [--namespace NS]',
    options: { out: str, namespace: str, 'data-root': str },
    positionals: 1,
    async run(v, [manifest]) {
      const { simulate } = await import('../simulate/simulate.js');
      const result = await simulate({
        manifest: manifest!,
        outDir: (v.out as string | undefined) ?? 'out',
        namespace: v.namespace as string | undefined,
        dataRoot: v['data-root'] as string | undefined,
      });
      return result.succeeded ? 0 : 1;
    },
  },
  privacy: {
    summary: 'plan differential privacy: epsilon for a noise multiplier, or the noise multiplier for a target epsilon',
    usage: 'flotilla privacy --rounds N --delta D [--sampling-rate Q] (--noise-multiplier Z | --target-epsilon E) [--json]',
    options: { rounds: str, delta: str, 'sampling-rate': str, 'noise-multiplier': str, 'target-epsilon': str, json: { type: 'boolean' } },
    async run(v) {
      const { planMain } = await import('../privacy/plan.js');
      return planMain(v, (line) => process.stdout.write(line + '\n'), (line) => process.stderr.write(line + '\n'));
    },
  },
  audit: {
    summary: 'check an audit trail: every entry in place and unchanged, and where the chain breaks if not',
    usage: 'flotilla audit verify FILE [--head HASH] [--json]',
    options: { head: str, json: { type: 'boolean' } },
    positionals: 2,
    async run(v, positionals) {
      const { auditMain } = await import('../audit/verify-command.js');
      return auditMain(positionals, v, (line) => process.stdout.write(line + '\n'), (line) => process.stderr.write(line + '\n'));
    },
  },
  operator: {
    summary: 'run the hub operator: FederatedJob and Site controllers, the site gateway, the hub CA',
    usage: OPERATOR_USAGE,
    options: Object.fromEntries(OPERATOR_FLAGS.map((flag) => [flag, str])),
    async run(v) {
      const { operatorMain } = await import('../hub/operator.js');
      return operatorMain(v);
    },
  },
  'site-agent': {
    summary: "run a hospital's site agent: joins the hub, runs the clients of the jobs assigned to the site",
    usage:
      'flotilla site-agent --namespace NS --state-dir DIR [--join FILE] [--kubeconfig FILE] [--policy FILE] [--client-image IMG] [--client-placement FILE] [--site-data-claim NAME] [--audit-claim NAME] [--client-state-claim NAME] [--listen-health HOST:PORT]',
    options: {
      join: str,
      namespace: str,
      'state-dir': str,
      kubeconfig: str,
      policy: str,
      'client-image': str,
      'client-placement': str,
      'site-data-claim': str,
      'audit-claim': str,
      'client-state-claim': str,
      'listen-health': str,
    },
    async run(v) {
      const { siteAgentMain } = await import('../site/main.js');
      return siteAgentMain(v as Record<string, string | undefined>);
    },
  },
  aggregator: {
    summary: "run a job's aggregator: rounds, strategies, checkpoints, /metrics",
    usage:
      'flotilla aggregator --job FILE --tls-dir DIR --state-dir DIR [--namespace NS] [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--ready-file FILE] [--revocations FILE] [--linger]',
    options: {
      job: str,
      namespace: str,
      listen: str,
      'tls-dir': str,
      'state-dir': str,
      'metrics-listen': str,
      'ready-file': str,
      revocations: str,
      linger: { type: 'boolean' },
    },
    async run(v) {
      const { aggregatorMain } = await import('../aggregator/main.js');
      return aggregatorMain(v);
    },
  },
  client: {
    summary: "run a site's client: fetch the global model, train on local data, send the update",
    usage: 'flotilla client --job FILE --site NAME --aggregator HOST:PORT --tls-dir DIR --work-dir DIR --data-root DIR [--namespace NS] [--state-dir DIR] [--audit-file FILE]',
    options: { job: str, namespace: str, site: str, aggregator: str, 'tls-dir': str, 'work-dir': str, 'data-root': str, 'state-dir': str, 'audit-file': str },
    async run(v) {
      const { clientMain } = await import('../client/main.js');
      return clientMain(v as Record<string, string | undefined>);
    },
  },
};

function version(): string {
  return JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    `flotilla ${version()}: federated learning across hospitals, on Kubernetes`,
    '',
    'Usage: flotilla COMMAND [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'flotilla COMMAND --help' for a command's options.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`flotilla: unknown command '${name}'\n\n${help()}\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  } catch (err) {
    process.stderr.write(`flotilla ${name}: ${(err as Error).message}\nUsage: ${command.usage}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`Usage: ${command.usage}\n`);
    return 0;
  }
  if (parsed.positionals.length !== (command.positionals ?? 0)) {
    process.stderr.write(`flotilla ${name}: expected ${command.positionals ?? 0} argument(s)\nUsage: ${command.usage}\n`);
    return 2;
  }
  return command.run(parsed.values, parsed.positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`flotilla: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
