/** What `localizer mcp` was started with: which instance it drives, and what the user allowed. */
import type { KubeSource } from '../shared/control-protocol';

export interface LocalizerMcpOptions {
  /** The state directory of the instance to drive (the user's, unless LOCALIZER_STATE_DIR says). */
  stateDirectory: string;
  /** Which kubeconfig the instance reads for connect, expose and environment (this process's). */
  source: KubeSource;
  /** The user allowed values from Secrets to reach the agent. */
  allowSecretValues: boolean;
  version: string;
}
