/** What an instance says, and to whom: the asker of a request, and its own log. */

/** A request's steps as they happen, for whoever asked (a CLI's progress lines, the window). */
export type Progress = (message: string) => void;

/** Progress nobody asked to hear. */
export const silent: Progress = () => undefined;

/**
 * Where an instance says what happens: the app's log, the daemon's terminal, or the terminal of
 * the foreground command that is the instance. `toldTheAsker` marks a line the request under way
 * has also been given as progress. Only the asker's own terminal may leave it out (a foreground
 * command's own request: `openLocalizer` tells); a request from another terminal or an MCP
 * agent does not print it where the instance runs, where sudo may be asking for a password.
 */
export type InstanceLog = (message: string, toldTheAsker?: boolean) => void;
