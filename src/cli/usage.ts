/**
 * `localizer help`: every command and option, as printed for a bad or missing command;
 * `commandUsage` reads one command's part of it.
 */
export const usage = `Usage:
  localizer daemon
  localizer connect [--kubeconfig FILE] [--context NAME]... [--namespace NS]... [--exclude-namespace NS]...
                    [--cluster-domain DOMAIN] [--ip-range CIDR] [--no-names]
                    [--no-relays] [--relay-image IMAGE]
  localizer disconnect [--context NAME]...
  localizer expose NAMESPACE/SERVICE [--map LOCAL:REMOTE]... [--scale-down | --header NAME=VALUE] [--kubeconfig FILE]
                   [--context NAME] [--ssh-image IMAGE --ssh-user NAME:UID]
  localizer expose NAMESPACE/SERVICE --stop [--context NAME]
  localizer cleanup [--kubeconfig FILE] [--context NAME] [--force]
  localizer list [--json] [--watch]
  localizer status [--json]
  localizer env NAMESPACE/WORKLOAD [--container NAME] [--format dotenv|json|shell] [--output FILE [--force]]
                [--kubeconfig FILE] [--context NAME]
  localizer run NAMESPACE/WORKLOAD [--container NAME] [--files DIR] [--kubeconfig FILE] [--context NAME]
                -- COMMAND [ARGS]...
  localizer up [-f FILE] [--dry-run] [-d|--detach] [--ip-range CIDR]
  localizer down [-f FILE]
  localizer mcp [--allow-secret-values]
  localizer mcp install claude|cursor|vscode [--print] [--allow-secret-values]

daemon      runs Localizer headless in this terminal until Ctrl-C; the other commands drive it
            (the tray app is the same instance, with a window)
connect     makes every Service reachable from this machine by its in-cluster names. Asks the
            running Localizer and returns once every service is ready (or waits for a pod the
            cluster has not made ready, which it names); with none running, runs
            in the foreground until Ctrl-C. Repeat --context to connect several clusters; a name
            two contexts share goes to the one given first
disconnect  removes the names and forwards of these contexts (default: all), and their exposes
expose      sends the service's traffic to ports on this machine: an SSH pod tunnels calls to
            127.0.0.1:LOCAL (default: each service port to the same local port), and the service's
            selector is pointed at it while its own pods keep running (a takeover: connections
            already open to them stay there). --scale-down scales its workloads to zero instead,
            which moves open connections, pod names and queue consumers too. --header x-dev=alice
            is a personal intercept: only HTTP requests with that header reach this machine, all
            others the service's own pods, and teammates share the service with their own values
            (a router pod in the cluster routes them; the last one out removes it). REMOTE is a service
            port's name or number. Uses the running Localizer's context (--context picks one of
            several); with none running, runs in the foreground until Ctrl-C or --stop
cleanup     gives taken-over services their selector back, restores workloads and deletes SSH pods
            left by an expose whose process was killed; --force also undoes abandoned exposes of
            other users or machines
list        every tunnel of the running Localizer and its health; --watch follows changes
env         a workload's container environment as its pods get it (WORKLOAD: deploy/NAME, sts/NAME,
            pod/NAME, or a service's name): values, ConfigMaps, Secrets, fields, resources and service
            links, with in-cluster addresses rewritten to this machine's forwards while connected.
            --output writes mode 0600 and refuses a file git could commit (--force to write anyway)
run         runs COMMAND with the workload's environment, as env gives it; nothing is written to
            disk. --files DIR also puts the container's ConfigMap, Secret and downward-API volume
            files under DIR (0700) at their mount paths, with their modes, while COMMAND runs
            (LOCALIZER_FILES names DIR)
status      which Localizer runs (kind, pid), its contexts and their state, names, tunnel counts.
            Exit status 3 when none runs
up          brings up a project file (default ./localizer.yaml): its context and namespaces connected,
            its services exposed, its processes run with their workload's environment (output
            prefixed by name). Prints the plan first; --dry-run prints only the plan (the drift
            from what runs now). Run again, it changes only what the file changed. Uses the
            running Localizer, or runs in the foreground when none runs
down        undoes what up of that file did, and nothing else (also Ctrl-C of the up that runs
            its processes)
mcp         a Model Context Protocol server on stdin/stdout for coding agents: status, services and
            their health, connect, expose, a workload's environment (Secret values only with
            --allow-secret-values). It drives the running Localizer and never starts one.
            mcp install adds it to Claude Code, Cursor or VS Code (--print shows the entry)
`;

/** The commands `usage` describes, each at the start of a description line. */
const commands = usage
  .split('\n')
  .flatMap((line) => /^([a-z]+) {2,}/.exec(line)?.[1] ?? [])
  .filter((name) => name !== 'localizer');

/**
 * `localizer COMMAND --help` (or `localizer help COMMAND`): that command's lines of `usage`, its
 * synopsis and its description; undefined for a command `usage` does not describe.
 */
export function commandUsage(command: string): string | undefined {
  if (!commands.includes(command)) return undefined;
  const lines = usage.split('\n');
  const synopsis: string[] = [];
  let inSynopsis = false;
  for (const line of lines) {
    if (line.startsWith('  localizer '))
      inSynopsis = line.startsWith(`  localizer ${command} `) || line === `  localizer ${command}`;
    else if (!line.startsWith('      ')) inSynopsis = false;
    if (inSynopsis) synopsis.push(line);
  }
  const start = lines.findIndex((line) => new RegExp(`^${command} {2,}`).test(line));
  const end = lines.findIndex((line, i) => i > start && !line.startsWith(' '));
  const description = lines.slice(start, end < 0 ? undefined : end);
  return `Usage:\n${synopsis.join('\n')}\n\n${description.join('\n')}\n`;
}
