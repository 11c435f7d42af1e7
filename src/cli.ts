import { Command, CommanderError, Option } from 'commander';
import { intArg, keyValuesArg, logLevelArg, resourcesArg, urlListArg, workerCountsArg } from './cli/args.js';
import { ApiRequestError } from './cli/client.js';
import { caFileOption, resolveTokenFiles, tokenFileOption } from './cli/credentials.js';
import { badgeCommand, cancelCommand, coordinatorCommand, drainCommand, reportCommand, statusCommand, submitCommand, workerCommand } from './cli/commands.js';
import { runSuite } from './cli/run.js';
import { UsageError } from './cli/usage-error.js';
import { SuiteError } from './suite/parse.js';

const DEFAULT_DB = '.drm/drm.duckdb';
const DEFAULT_COORDINATOR = 'http://127.0.0.1:7070';

const coordinatorOption = () => new Option('--coordinator <urls>', 'coordinator URL(s), comma-separated').argParser(urlListArg).env('DRM_COORDINATOR').default([DEFAULT_COORDINATOR], DEFAULT_COORDINATOR);
const tokenOption = () => new Option('--token <token>', 'API token').env('DRM_TOKEN');

function program(): Command {
  const drm = new Command('drm')
    .description('Dynamic Resource Management for distributed test and benchmark runs')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    // --token-file and --worker-token-file become the token options of whichever command runs.
    .hook('preAction', (_drm, command) => resolveTokenFiles(command));

  drm
    .command('run')
    .description('run a suite end to end: embedded coordinator, local workers, reports; exit 0 only if every task succeeded')
    .argument('<suite>', 'suite file (YAML or JSON)')
    .addOption(new Option('--workers <types>', 'starting fleet, e.g. cpu=1,gpu=1,high-memory=1').argParser(workerCountsArg))
    .addOption(new Option('--max-workers <n>', 'upper bound on the fleet').argParser(intArg(1, 10_000)).default(16))
    .option('--output-dir <dir>', 'where reports go (default ./drm-results/<timestamp>)')
    .option('--db <path>', 'DuckDB file', DEFAULT_DB)
    .addOption(new Option('--log-level <level>', 'log level of the coordinator and worker logs').argParser(logLevelArg).default('info'))
    .action(async (suite: string, o) => {
      process.exitCode = await runSuite(suite, { workers: o.workers, maxWorkers: o.maxWorkers, outputDir: o.outputDir, db: o.db, logLevel: o.logLevel });
    });

  drm
    .command('coordinator')
    .description('run a coordinator')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--port <port>', 'HTTP port').argParser(intArg(0, 65535)).default(7070))
    .option('--db <path|url>', 'DuckDB path or postgres:// URL', DEFAULT_DB)
    .addOption(tokenOption())
    .addOption(new Option('--worker-token <token>', 'worker token (defaults to --token)').env('DRM_WORKER_TOKEN'))
    .addOption(tokenFileOption())
    .addOption(tokenFileOption('--worker-token-file', 'worker token'))
    .option('--insecure', 'allow a --host beyond loopback without a token', false)
    .option('--tls-cert <path>', 'serve HTTPS and WSS with this certificate (PEM; with --tls-key)')
    .option('--tls-key <path>', 'private key (PEM) of --tls-cert')
    .option('--config <file>', 'settings file (YAML or JSON)')
    .addOption(new Option('--log-level <level>').argParser(logLevelArg).default('info'))
    .action(async (o) => coordinatorCommand(o));

  drm
    .command('worker')
    .description('run a worker agent')
    .addOption(coordinatorOption())
    .addOption(new Option('--token <token>', 'worker token').env('DRM_WORKER_TOKEN'))
    .addOption(tokenFileOption('--token-file', 'worker token'))
    .addOption(caFileOption())
    .option('--type <type>', 'worker type', 'default')
    .addOption(new Option('--resources <list>', 'declared resources, e.g. cpu=4,memoryMb=16384,gpus=1,gpuMemoryMb=16384 (detected when absent)').argParser(resourcesArg))
    .addOption(new Option('--labels <list>', 'labels k=v,...').argParser(keyValuesArg))
    .option('--id <id>', 'worker id (default: host-type-random)')
    .addOption(new Option('--log-level <level>').argParser(logLevelArg).default('info'))
    .action(async (o) => workerCommand({ ...o, token: o.token ?? process.env.DRM_TOKEN }));

  drm
    .command('submit')
    .description('submit a suite to a running coordinator')
    .argument('<suite>', 'suite file (YAML or JSON)')
    .addOption(coordinatorOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .addOption(caFileOption())
    .option('--wait', 'follow the run to the end; exit 0 only if it succeeded', false)
    .option('--json', 'machine-readable output', false)
    .action(async (suite: string, o) => {
      process.exitCode = await submitCommand(suite, o);
    });

  drm
    .command('status')
    .description('workers, queue and utilization of a running coordinator')
    .addOption(coordinatorOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .addOption(caFileOption())
    .option('--json', 'machine-readable output', false)
    .action(async (o) => statusCommand(o));

  drm
    .command('cancel')
    .description('cancel a task (kills its process if it runs)')
    .argument('<taskId>')
    .addOption(coordinatorOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .addOption(caFileOption())
    .action(async (taskId: string, o) => cancelCommand(taskId, o));

  drm
    .command('drain')
    .description('stop placing work on a worker')
    .argument('<workerId>')
    .addOption(coordinatorOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .addOption(caFileOption())
    .action(async (workerId: string, o) => drainCommand(workerId, o));

  drm
    .command('report')
    .description('build reports of a run from the database')
    .option('--run <id>', 'run id (default: the latest run)')
    .option('--format <list>', 'comma-separated: json,junit,md,html', 'json,junit,md,html')
    .option('--output-dir <dir>', 'where reports go', 'drm-report')
    .option('--db <path>', 'DuckDB file', DEFAULT_DB)
    .action(async (o) => reportCommand(o));

  drm
    .command('badge')
    .description('write status badges of a run: badge.svg and badge.json (shields.io endpoint format)')
    .option('--run <id>', 'run id (default: the latest run)')
    .option('--db <path>', 'DuckDB file', DEFAULT_DB)
    .addOption(new Option('--report <file>', 'build it from a report.json instead of the database (counts the checks of drm e2e)').conflicts(['run', 'db']))
    .option('--output-dir <dir>', 'where badge.svg and badge.json go', '.')
    .option('--label <text>', 'left-hand text of the badge', 'drm')
    .action(async (o) => badgeCommand(o));

  drm
    .command('e2e')
    .description('the end-to-end DRM scenario: real coordinator and workers, load phases, a worker killed and restarted; exit 0 only if every check passed')
    .option('--quick', 'the short scenario (under 90 s) instead of the full one (about 300 s)', false)
    .option('--output-dir <dir>', 'where reports, logs and the database go (default ./e2e-drm-<timestamp>)')
    .addOption(new Option('--log-level <level>', 'log level of the coordinator and worker logs').argParser(logLevelArg).default('info'))
    .action(async (o) => {
      // Loaded on demand: every worker process runs this CLI too.
      const { runE2e } = await import('./e2e/runner.js');
      process.exitCode = await runE2e({ quick: o.quick, outputDir: o.outputDir, logLevel: o.logLevel });
    });

  return drm;
}

async function main(argv: string[]): Promise<void> {
  const drm = program();
  drm.exitOverride();
  drm.commands.forEach((c) => c.exitOverride());
  try {
    await drm.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; everything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof UsageError || err instanceof SuiteError) {
      process.stderr.write(`drm: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof ApiRequestError) {
      process.stderr.write(`drm: ${err.status} ${err.code}: ${err.message}\n`);
      process.exitCode = err.status >= 400 && err.status < 500 ? 2 : 1;
      return;
    }
    process.stderr.write(`drm: ${(err as Error).message ?? String(err)}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
