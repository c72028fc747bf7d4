/**
 * How `localizer` ends on each kind of error: the exit code a script checks, and the one line a
 * user reads, naming what to do; a bug is not dressed up as a message.
 */
import { describe, expect, it } from 'vitest';
import { ControlError } from '../main/engine/control/control-client';
import { ExposeRefusedError } from '../main/engine/expose/expose-refused-error';
import { InstanceRefusedError } from '../main/engine/instance/instance-refusal';
import { KubeconfigError } from '../main/engine/kube/kubeconfig-error';
import { reportCliError } from './cli-errors';
import { UsageError } from './usage-error';

function report(error: unknown): { exitCode: number | undefined; said: string } {
  let said = '';
  const exitCode = reportCliError(error, (text) => (said += text));
  return { exitCode, said };
}

describe('the CLI on an error', () => {
  it.each([
    ['a bad argument', new UsageError('--map needs LOCAL:REMOTE'), 2],
    ['a broken kubeconfig', new KubeconfigError('the kubeconfig has no context "prod"'), 2],
    ['a refused expose', new ExposeRefusedError('web/api is already exposed by bob'), 1],
    ['a refusal of the running Localizer', new InstanceRefusedError('Localizer is stopping'), 1],
    ['no running Localizer', new ControlError('No Localizer runs', 'not-running'), 1],
  ])('%s exits with %i and says the message on one line', (_, error, code) => {
    const { exitCode, said } = report(error);
    expect(exitCode).toBe(code);
    expect(said).toBe(`localizer: ${error.message}\n`);
  });

  it("names the command an option is unknown to, shows that command's usage, and exits 2", () => {
    const unknown = (option: string) =>
      Object.assign(
        new TypeError(
          `Unknown option '${option}'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- "${option}"`,
        ),
        { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' },
      );
    let said = '';
    expect(reportCliError(unknown('--nope'), (text) => (said += text), 'list')).toBe(2);
    expect(said).toMatch(/^localizer: localizer list has no option --nope\.\n\nUsage:\n {2}localizer list /);
    expect(said).not.toContain('localizer daemon');
    expect(said).not.toContain('positional argument');

    // A kubectl habit: the namespace goes in the name for the commands that take NAMESPACE/NAME.
    said = '';
    reportCliError(unknown('-n'), (text) => (said += text), 'env');
    expect(said).toMatch(/^localizer: localizer env has no option -n: the namespace is part of the name/);
    said = '';
    reportCliError(unknown('-n'), (text) => (said += text), 'list');
    expect(said).toMatch(/^localizer: localizer list has no option -n\.\n/);
    said = '';
    reportCliError(unknown('-n'), (text) => (said += text), 'connect');
    expect(said).toMatch(/^localizer: localizer connect has no option -n; did you mean --namespace\?\n/);
  });

  it('shows the usage after an option it does not know, and exits 2', () => {
    const error = Object.assign(new TypeError("Unknown option '--nope'"), {
      code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION',
    });
    const { exitCode, said } = report(error);
    expect(exitCode).toBe(2);
    expect(said).toMatch(/^localizer: localizer has no option --nope\.\n\nUsage:\n {2}localizer daemon\n/);
  });

  it('names the path and the fix when the file system says no', () => {
    const error = Object.assign(new Error('EACCES: permission denied'), {
      code: 'EACCES',
      syscall: 'open',
      path: '/etc/localizer-test/kubeconfig',
    });
    const { exitCode, said } = report(error);
    expect(exitCode).toBe(1);
    expect(said).toBe(
      'localizer: cannot open /etc/localizer-test/kubeconfig: permission denied. Check its owner and mode with `ls -ld`.\n',
    );
  });

  it('leaves a fault in our own code to be thrown, with its stack', () => {
    expect(report(new RangeError('index out of range')).exitCode).toBeUndefined();
    expect(
      report(new TypeError("Cannot read properties of undefined (reading 'pod')")).exitCode,
    ).toBeUndefined();
  });

  it('says what happened in the cluster on one line, as a joined command says it', () => {
    const podFailed = new Error(
      'The SSH pod localizer-frontend-1 cannot start (ErrImagePull: pull access denied). Its log is empty.',
    );
    expect(report(podFailed)).toEqual({ exitCode: 1, said: `localizer: ${podFailed.message}\n` });
    const unreachable = new TypeError('fetch failed', {
      cause: new Error('connect ECONNREFUSED 127.0.0.1:6443'),
    });
    expect(report(unreachable)).toEqual({
      exitCode: 1,
      said: 'localizer: fetch failed: connect ECONNREFUSED 127.0.0.1:6443\n',
    });
  });
});
