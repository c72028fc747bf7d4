/**
 * Finding what exposes of earlier runs (killed, crashed) left: their records in the state
 * directory whose process is gone, grouped by the context they name, with the kubeconfig files
 * the crashed run read that context from (this instance may know no other).
 */
import { delimiter } from 'node:path';
import { isProcessAlive, readRecords } from '../expose/expose-records';
import type { CleanupReport } from '../expose/leftovers';
import { loadKubeContext, type KubeContext } from '../kube/kube-context';

export interface EarlierRunsOptions {
  stateDirectory: string;
  /** Loads a context by name the way this instance loads any other. */
  loadContext: (name: string) => KubeContext;
  /** Undoes what was left in one context. */
  recover: (context: KubeContext) => Promise<CleanupReport>;
}

/**
 * One report per context that orphaned records name. A context that cannot be loaded or asked
 * gets a report whose failure says to run `localizer cleanup` once the cluster answers. Without
 * a record nothing is asked; the next expose in a context also cleans up there.
 */
export async function recoverEarlierRuns(
  options: EarlierRunsOptions,
): Promise<{ context: string; report: CleanupReport }[]> {
  const orphaned = readRecords(options.stateDirectory).filter((r) => !isProcessAlive(r.pid));
  const reports: { context: string; report: CleanupReport }[] = [];
  for (const name of new Set(orphaned.map((r) => r.context))) {
    const files = orphaned.find((r) => r.context === name && r.kubeconfigFiles?.length)?.kubeconfigFiles;
    try {
      const context = files
        ? loadKubeContext({ context: name, env: { KUBECONFIG: files.join(delimiter) } })
        : options.loadContext(name);
      reports.push({ context: name, report: await options.recover(context) });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      reports.push({
        context: name,
        report: {
          done: [],
          skipped: [],
          failed: [`${message} Run \`localizer cleanup --context ${name}\` once the cluster answers.`],
        },
      });
    }
  }
  return reports;
}
