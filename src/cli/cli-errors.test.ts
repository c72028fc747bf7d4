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

  it('shows the usage after an option it does not know, and exits 2', () => {
    const error = Object.assign(new TypeError("Unknown option '--nope'"), {
      code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION',
    });
    const { exitCode, said } = report(error);
    expect(exitCode).toBe(2);
    expect(said).toContain("Unknown option '--nope'");
    expect(said).toContain('Usage:');
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

  it('leaves a bug to be thrown, with its stack', () => {
    expect(report(new RangeError('index out of range')).exitCode).toBeUndefined();
  });
});
