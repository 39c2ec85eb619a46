/**
 * The Warden CLI: `warden <noun> <verb> …` (`npm run warden -- …`, or `npx warden …`).
 *
 *   jobs …       the user CLI over HTTP (./jobs-cli.ts)
 *   webhooks …   subscriptions and deliveries over HTTP (./webhooks-cli.ts)
 *   nodes …      worker nodes: list, drain, resume over HTTP (./nodes-cli.ts)
 *   completion bash|zsh
 *   user …, operator …   bootstrap commands on the database (./cli-admin.ts, loaded only for them)
 *
 * bin/warden.mjs runs this as one bundled file, rebuilt when a source changes, so a command starts
 * in a fraction of a second instead of transpiling TypeScript on every run.
 */
import { bashCompletion, zshCompletion, type CommandTree } from './completion';
import { EXIT, usageError } from './cli-common';
import { JOBS_OPTIONS, runCli, runJobsCli } from './jobs-cli';
import { runWebhooks, WEBHOOKS_OPTIONS } from './webhooks-cli';
import { NODES_OPTIONS, runNodesCli } from './nodes-cli';

const USAGE = `usage: warden <command> [options]      (npm run -s warden -- …, or npx warden …)
  jobs submit|list|get|logs|cancel|kill|extend|results …    (warden jobs --help)
  webhooks list|create|delete|deliveries …                  (warden webhooks --help)
  nodes list|drain|resume …                                 (warden nodes --help)
  completion bash|zsh       print a shell completion script: source <(warden completion bash)
bootstrap (on the server's host, straight to its database):
  user create --name <name> --plan <plan>
  operator create --email <email> --role viewer|operator|admin [--password <password>]
  operator key --email <email>
  user key list|create|revoke …, operator key list|create|revoke …`;

const NO_OPTS = {};
export const COMMANDS: CommandTree = {
  jobs: JOBS_OPTIONS,
  webhooks: WEBHOOKS_OPTIONS,
  nodes: NODES_OPTIONS,
  completion: { bash: NO_OPTS, zsh: NO_OPTS },
};

async function main(argv: string[]): Promise<number> {
  const [noun, ...rest] = argv;
  switch (noun) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return EXIT.ok;
    case 'jobs':
      return runJobsCli(rest);
    case 'webhooks':
      return runCli(() => runWebhooks(rest));
    case 'nodes':
      return runNodesCli(rest);
    case 'completion':
      return runCli(async () => {
        if (rest[0] === 'bash') process.stdout.write(bashCompletion(COMMANDS));
        else if (rest[0] === 'zsh') process.stdout.write(zshCompletion(COMMANDS));
        else throw usageError(`warden completion takes bash or zsh${rest[0] ? ` (got "${rest[0]}")` : ''}`);
        return EXIT.ok;
      });
    case 'user':
    case 'operator': {
      // Logs to stderr at warn: stdout is the command's JSON. Set before the server modules load.
      process.env.WARDEN_CLI ??= '1';
      const { runAdmin } = await import('./cli-admin');
      return runAdmin(argv);
    }
    default:
      return runCli(async () => {
        throw usageError(`unknown command "${noun}": use jobs, webhooks, nodes, completion, user or operator`);
      });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let stdout drain (a piped JSON page), then leave even if a keep-alive socket lingers.
    process.stdout.write('', () => process.exit(code));
  },
  (e) => {
    console.error(JSON.stringify({ error: { code: 'internal', message: String((e as Error)?.message ?? e) } }));
    process.exit(1);
  },
);
