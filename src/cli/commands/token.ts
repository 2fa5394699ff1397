import type { ArgumentsCamelCase, Argv } from 'yargs';
import { DEFAULT_TOKEN_FILE, TOKEN_ENV, inspectToken, openTokenSource, renderTokenReport } from '../../api/index.js';
import { EXIT } from '../../errors.js';
import type { CommandFactory } from '../main.js';
import { single } from '../flags.js';

interface TokenFlags {
  tokenFile?: string;
}

export const tokenCommand: CommandFactory = (io) => ({
  command: 'token',
  describe: 'show when the Batch API token expires (UTC and local) and how long it has left',
  builder: (y: Argv) =>
    y
      .usage(
        `$0 token [--token-file PATH]\n\n` +
          `Reads the token from --token-file, else $${TOKEN_ENV}, else ${DEFAULT_TOKEN_FILE}; never prints it. ` +
          `A JWT's exp claim is decoded (no signature check). Exits ${EXIT.authExpired} when the token has expired; ` +
          `warns when the token file is readable by group or others.`,
      )
      .option('token-file', {
        type: 'string',
        requiresArg: true,
        describe: `file holding the bearer token (default ${DEFAULT_TOKEN_FILE})`,
      }),
  handler: async (argv: ArgumentsCamelCase<TokenFlags>) => {
    const source = openTokenSource({ tokenFile: single('token-file', argv.tokenFile) });
    const report = await inspectToken(source);
    if (report.permissionWarning) io.stderr.write(`fleetclip: warning: ${report.permissionWarning}\n`);
    io.stdout.write(renderTokenReport(report));
    if (report.expired) io.exitCode = EXIT.authExpired;
  },
});
