/**
 * `localizer daemon`: a headless Localizer in the foreground, for a Linux server or a
 * terminal-only user; the tray app runs the same instance inside. Every other command drives
 * it. At start it undoes what a killed earlier instance left, and says so; Ctrl-C (or SIGTERM,
 * or a closed terminal) undoes everything it holds.
 */
import { printCleanup, startCliInstance } from './cli-instance';

export async function runDaemon(print: (line: string) => void): Promise<number> {
  const opened = await startCliInstance('daemon', print);
  const { identity } = opened.instance;
  print(
    `Localizer daemon running (pid ${String(identity.pid)}, state in ${identity.stateDirectory}). Drive it with \`localizer connect\`, \`expose\`, \`list\` and \`status\`; Ctrl-C stops it.`,
  );
  const notices = await opened.instance.recoverEarlierRuns();
  if (notices.length > 0)
    print('An earlier Localizer was stopped without cleaning up; undoing what it left:');
  printCleanup(notices, print);
  await opened.interrupted;
  print('Stopping: restoring exposed workloads, removing names…');
  const failures = await opened.close();
  for (const failure of failures) print(`Could not undo ${failure}. Run \`localizer cleanup\`.`);
  print('Stopped.');
  return failures.length === 0 ? 0 : 1;
}
