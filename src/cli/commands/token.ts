import { stat } from 'node:fs/promises';
import os from 'node:os';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { DEFAULT_TOKEN_FILE, SILENT_LOG, TOKEN_ENV, inspectToken, openTokenSource, renderTokenReport } from '../../api/index.js';
import { EXIT, UsageError } from '../../errors.js';
import { openStatusSource, openWorkerManifest } from '../../manifest/index.js';
import { renderTokenView, tokenView } from '../../report/index.js';
import { TokenKeeper } from '../../worker/index.js';
import type { Io } from '../io.js';
import type { CommandFactory } from '../main.js';
import { single } from '../flags.js';

interface TokenFlags {
  tokenFile?: string;
  manifest?: string;
  renew?: boolean;
}

/** The token file's expiry (UTC, local, left), or, for a campaign's token source, a note that it holds none yet. True when expired. */
async function fileReport(io: Io, tokenFile: string | undefined, hasTokenSource: boolean): Promise<boolean> {
  const source = openTokenSource({ ...(tokenFile !== undefined && { tokenFile }) });
  let report;
  try {
    report = await inspectToken(source);
  } catch (err) {
    // only a file the source has not filled yet is "no token yet": an unreadable or garbled one is said as it is
    const notFilledYet = await stat(source.where).then(
      (s) => s.size === 0,
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    );
    if (!(hasTokenSource && err instanceof UsageError && notFilledYet)) throw err;
    io.stdout.write(`token file: ${source.where}\nexpires:    no token in it yet\n`);
    return false;
  }
  if (report.permissionWarning) io.stderr.write(`fleetclip: warning: ${report.permissionWarning}\n`);
  io.stdout.write(renderTokenReport(report));
  return report.expired;
}

/** `--renew`: one renewal through the campaign's token source, for all its workers (TokenSourceError when it fails). */
async function renewCampaignToken(io: Io, manifestPath: string): Promise<void> {
  const manifest = openWorkerManifest(manifestPath);
  try {
    const { tokenSource, tokenFile } = manifest.settings();
    if (!tokenSource)
      throw new UsageError(
        `the campaign in ${manifest.path} has no token source (plan --token-command or --oauth-token-url): put a new token in ${tokenFile}`,
      );
    const keeper = new TokenKeeper({
      source: tokenSource,
      tokenFile,
      ledger: manifest,
      holder: `token-${os.hostname()}-${process.pid}`,
      manifestPath: manifest.path,
      log: SILENT_LOG, // a failed renewal is what renewNow throws: said once, by main
    });
    await keeper.renewNow();
  } finally {
    manifest.close();
  }
}

/** `--manifest`: the campaign's token file and, when it has one, its token source and renewals (read-only, as `status`). */
async function campaignReport(io: Io, manifestPath: string): Promise<void> {
  const manifest = openStatusSource(manifestPath);
  try {
    const { tokenSource, tokenFile } = manifest.settings();
    const expired = await fileReport(io, tokenFile, tokenSource !== undefined);
    if (!tokenSource) {
      if (expired) io.exitCode = EXIT.authExpired;
      return;
    }
    const state = manifest.tokenRenewal();
    io.stdout.write(renderTokenView(tokenView(tokenSource, state, Date.now()), Date.now(), manifest.path));
    if (state.refused) io.exitCode = EXIT.tokenSource;
  } finally {
    manifest.close();
  }
}

export const tokenCommand: CommandFactory = (io) => ({
  command: 'token',
  describe:
    "show when the Batch API token expires (UTC and local) and how long it has left; with --manifest, the campaign's token source and renewals",
  builder: (y: Argv) =>
    y
      .usage(
        `$0 token [--token-file PATH | --manifest FILE [--renew]]\n\n` +
          `Reads the token from --token-file, else $${TOKEN_ENV}, else ${DEFAULT_TOKEN_FILE}; never prints it. ` +
          `A JWT's exp claim is decoded (no signature check). Exits ${EXIT.authExpired} when the token has expired; ` +
          `warns when the token file is readable by group or others. With --manifest: the campaign's token file, its token source ` +
          `(credential command or OAuth2), the last and next renewal and any failure; exits ${EXIT.tokenSource} when the source refused. ` +
          `--renew renews the token now, once for every worker of the campaign. See docs/api.md#token-sources.`,
      )
      .option('token-file', {
        type: 'string',
        requiresArg: true,
        describe: `file holding the bearer token (default ${DEFAULT_TOKEN_FILE})`,
      })
      .option('manifest', { type: 'string', requiresArg: true, describe: "a campaign's manifest: its token file and token source" })
      .option('renew', { type: 'boolean', describe: "with --manifest: renew the campaign's token now through its token source" }),
  handler: async (argv: ArgumentsCamelCase<TokenFlags>) => {
    const tokenFile = single('token-file', argv.tokenFile);
    const manifestPath = single('manifest', argv.manifest);
    if (manifestPath !== undefined && tokenFile !== undefined)
      throw new UsageError('--token-file and --manifest: give one (a campaign names its own token file)');
    if (manifestPath !== undefined) {
      if (argv.renew) await renewCampaignToken(io, manifestPath);
      return campaignReport(io, manifestPath);
    }
    if (argv.renew) throw new UsageError('--renew needs --manifest: the campaign whose token source renews the token');
    if (await fileReport(io, tokenFile, false)) io.exitCode = EXIT.authExpired;
  },
});
