/** What an instance says, and to whom: the asker of a request, and its own log. */

/** A request's steps as they happen, for whoever asked (a CLI's progress lines, the window). */
export type Progress = (message: string) => void;

/** Progress nobody asked to hear. */
export const silent: Progress = () => undefined;

/**
 * Where an instance says what happens: the app's log, the daemon's terminal, or the terminal of
 * the foreground command that is the instance. `toldTheAsker` marks a line the request that
 * caused it has already shown as its progress: a log on the asker's own terminal (a foreground
 * command) leaves it out, so it is not printed twice; any other log keeps it.
 */
export type InstanceLog = (message: string, toldTheAsker?: boolean) => void;
