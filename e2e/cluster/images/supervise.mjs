// @ts-check
/**
 * Runs a container command in its own process group and takes the whole group down when it is
 * told to stop or when the cluster that started it disappears (even by SIGKILL), so no sshd is
 * ever left behind. Usage: node supervise.mjs <command> [args...]
 */
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: supervise.mjs <command> [args...]');
  process.exit(2);
}
// The kubelet names itself: started just as the cluster exited, this process is reparented
// before it runs, and `process.ppid` would already be the wrong parent.
const parent = Number(process.env.LOCALIZER_KUBELET_PID) || process.ppid;
if (process.ppid !== parent) process.exit(137);
const child = spawn(command, args, { stdio: 'inherit', detached: true });

function killGroup(/** @type {NodeJS.Signals} */ signal) {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

for (const signal of /** @type {NodeJS.Signals[]} */ (['SIGTERM', 'SIGINT'])) {
  process.on(signal, () => killGroup(signal));
}
// The kubelet's "SIGKILL the container": a SIGKILL of this process could not pass it on.
process.on('SIGUSR2', () => killGroup('SIGKILL'));
setInterval(() => {
  if (process.ppid !== parent) {
    killGroup('SIGKILL');
    process.exit(137);
  }
}, 500).unref();
child.on('exit', (code, signal) => {
  killGroup('SIGKILL');
  process.exit(code ?? (signal ? 128 + 15 : 1));
});
child.on('error', (error) => {
  console.error(`cannot start ${command}: ${error.message}`);
  process.exit(127);
});
