import { describe, expect, test } from '@jest/globals';
import { parseTokenSource } from '../../src/plan/index.js';
import { runMain } from '../helpers/cli.js';

const resolve = (raw: string) => `/home/me/${raw}`;

describe('parseTokenSource', () => {
  test.each([
    { input: {}, source: undefined },
    { input: { tokenCommand: '  aws-token --profile fc  ' }, source: { kind: 'command', command: 'aws-token --profile fc' } },
    {
      input: {
        oauthTokenUrl: 'https://idp.example.com/oauth2/token',
        clientId: 'abc',
        clientSecretFile: 'secret',
        scope: 'batch/read batch/write',
      },
      source: {
        kind: 'oauth2',
        tokenUrl: 'https://idp.example.com/oauth2/token',
        clientId: 'abc',
        clientSecretFile: '/home/me/secret',
        scope: 'batch/read batch/write',
      },
    },
    {
      input: { oauthTokenUrl: 'http://127.0.0.1:8080/oauth2/token', clientId: 'abc', clientSecretFile: 's' },
      source: { kind: 'oauth2', tokenUrl: 'http://127.0.0.1:8080/oauth2/token', clientId: 'abc', clientSecretFile: '/home/me/s' },
    },
  ])('$input', ({ input, source }) => {
    expect(parseTokenSource(input, resolve)).toEqual(source);
  });

  test.each([
    {
      input: { tokenCommand: 'x', oauthTokenUrl: 'https://a/t' },
      message: '--token-command and --oauth-token-url are two token sources: give one of them',
    },
    { input: { tokenCommand: ' ' }, message: '--token-command must be one line of shell command' },
    { input: { clientId: 'abc' }, message: '--client-id, --client-secret-file and --scope go with --oauth-token-url' },
    {
      input: { oauthTokenUrl: 'https://a/t', clientId: 'abc' },
      message: '--oauth-token-url needs --client-id and --client-secret-file (a file holding the client secret)',
    },
    {
      input: { oauthTokenUrl: 'http://idp.example.com/t', clientId: 'abc', clientSecretFile: 's' },
      message:
        "--oauth-token-url is plain http:// beyond loopback ('http://idp.example.com/t'): the client secret would travel unencrypted; use https://",
    },
    {
      input: { oauthTokenUrl: 'https://u:p@idp.example.com/t?x=1', clientId: 'abc', clientSecretFile: 's' },
      message: "--oauth-token-url must be an http(s) URL without credentials, query or fragment, got 'https://u:p@idp.example.com/t?x=1'",
    },
    {
      input: { oauthTokenUrl: 'https://a/t', clientId: 'a b', clientSecretFile: 's' },
      message: "--client-id must be 1 to 256 visible ASCII characters, got 'a b'",
    },
    {
      input: { oauthTokenUrl: 'https://a/t', clientId: 'abc', clientSecretFile: 's', scope: 'a  b' },
      message: "--scope must be scope names separated by single spaces (RFC 6749 §3.3), got 'a  b'",
    },
  ])('refuses $input', ({ input, message }) => {
    expect(() => parseTokenSource(input, resolve)).toThrow(message);
  });
});

test('plan refuses a token source in a group-shared campaign: the group could change what runs or where the secret goes', async () => {
  const r = await runMain([
    ...['plan', '--manifest', '/nonexistent-fc/run/manifest.sqlite', '--out', '/nonexistent-fc/out', '--day', '2025-11-17'],
    ...['--vehicles', 'mav', '--cameras', 'front', '--api-base', 'http://127.0.0.1:9', '--token-command', 'mint', '--share-with-group'],
  ]);
  expect(r).toMatchObject({
    code: 2,
    stderr:
      'fleetclip: --share-with-group cannot go with a token source (--token-command): the group could change in the manifest what it runs or where the client secret goes; share the campaign with a token file\n',
  });
});
