/**
 * How the CLI ends on an error: what the user typed or configured exits 2, what the running
 * Localizer, the cluster or the file system refused exits 1, each with one line saying why and
 * what to do; so does anything else that happened rather than was coded wrong (a pod that cannot
 * start, a change the cluster refused), as a joined command says it. A fault in Localizer's own
 * code is thrown, with its stack trace.
 */
import { ControlError } from '../main/engine/control/control-client';
import { InstanceRunningError } from '../main/engine/control/instance-lock';
import { ConnectError } from '../main/engine/connect/cluster-access';
import { isRefusal } from '../main/engine/instance/instance-refusal';
import { describeError } from '../main/engine/kube/api-errors';
import { KubeconfigError } from '../main/engine/kube/kubeconfig-error';
import { ProjectFileError } from '../main/engine/project/project-file-reader';
import { stateDirectory } from '../main/engine/state-directory';
import { McpInstallError } from '../mcp/mcp-install';
import { commandUsage, usage } from './usage';
import { UsageError } from './usage-error';

/** A failed file operation on a named path (the state directory, a kubeconfig): the user's to fix. */
function isFileSystemError(error: unknown): error is NodeJS.ErrnoException & { path: string } {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).path === 'string';
}

const fileSystemHints: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  ENOTDIR: 'a part of that path is a file, not a directory',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
};

function describeFileSystemError(error: NodeJS.ErrnoException & { path: string }): string {
  const why = fileSystemHints[error.code ?? ''] ?? error.message;
  const state = stateDirectory();
  const fix = error.path.startsWith(state)
    ? `Localizer keeps its state in ${state}: make it yours (\`ls -ld\` shows the owner), or set LOCALIZER_STATE_DIR to a directory you can write.`
    : 'Check its owner and mode with `ls -ld`.';
  return `cannot ${error.syscall ?? 'use'} ${error.path}: ${why}. ${fix}`;
}

/** What the user typed or configured: exit 2. */
const userErrors = [UsageError, KubeconfigError, ConnectError, McpInstallError, ProjectFileError];
/** Said in one line, not a bug: the user's errors, and what the running Localizer or the cluster refused (exit 1). */
const reportedErrors = [...userErrors, ControlError, InstanceRunningError];

/**
 * A command line node:util's parseArgs refused, said for `command` (when it is one), followed by
 * that command's usage. Node's own words for an unknown option tell how to pass a positional
 * that starts with '-', which is rarely what happened: a kubectl habit (`-n NS`) is likelier.
 */
function describeParseError(message: string, command: string | undefined): string {
  const own = command === undefined ? undefined : commandUsage(command);
  const option = /^Unknown option '([^']+)'/.exec(message)?.[1];
  if (option === undefined) return `localizer: ${message}\n\n${own ?? usage}`;
  const named = own === undefined ? 'localizer' : `localizer ${String(command)}`;
  const kubectlNamespace = option === '-n' || option === '--namespace';
  const hint =
    kubectlNamespace && own?.includes(' NAMESPACE/') === true
      ? ': the namespace is part of the name (NAMESPACE/NAME)'
      : option === '-n' && own?.includes('--namespace') === true
        ? '; did you mean --namespace?'
        : '';
  const sentence = `${named} has no option ${option}${hint}`;
  return `localizer: ${sentence}${sentence.endsWith('?') ? '' : '.'}\n\n${own ?? usage}`;
}

/**
 * A fault in Localizer's own code: a wrong type, a missing name, a value out of range, a failed
 * assertion. fetch's `TypeError('fetch failed')` is not one: it carries the reason (a refused
 * connection, a bad certificate) as its cause.
 */
function isCodeFault(error: Error): boolean {
  if (error instanceof TypeError) return error.cause === undefined;
  return (
    error instanceof ReferenceError ||
    error instanceof RangeError ||
    error instanceof SyntaxError ||
    error instanceof EvalError ||
    error instanceof URIError ||
    (error as NodeJS.ErrnoException).code === 'ERR_ASSERTION'
  );
}

/**
 * Writes what went wrong and returns the exit code, or undefined for a fault in our own code.
 * `command` is the command the user ran, for a command line that could not be parsed.
 */
export function reportCliError(
  error: unknown,
  write: (text: string) => void,
  command?: string,
): number | undefined {
  if (error instanceof Error && (isRefusal(error) || reportedErrors.some((kind) => error instanceof kind))) {
    write(`localizer: ${error.message}\n`);
    return userErrors.some((kind) => error instanceof kind) ? 2 : 1;
  }
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
    write(describeParseError(error.message, command));
    return 2;
  }
  if (isFileSystemError(error)) {
    write(`localizer: ${describeFileSystemError(error)}\n`);
    return 1;
  }
  if (error instanceof Error && !isCodeFault(error)) {
    write(`localizer: ${describeError(error)}\n`);
    return 1;
  }
  return undefined;
}
