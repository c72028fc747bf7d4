/**
 * The SSH pod of one expose and its Secret, in the cluster: created, waited for (failing early on
 * a state that will not pass), recreated under a fresh name when it goes, taken out of the
 * service before it is deleted, and deleted with everything else the expose made.
 */
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { errorStatus } from '../kube/api-errors';
import { waitForPod } from '../kube/pod-state';
import type { Clock } from '../timing/clock';
import { refusal } from './expose-preflight';
import type { ExposeMode } from '../../../shared/tunnel-status';
import type { ExposedPort } from './port-map';
import { labels, sshPod, sshPodName, sshSecret, type SshKeys, type SshPodSpec } from './ssh-pod';
import type { SshImage } from './ssh-image';
import type { ServingWorkload } from './workload-scaler';
import type { ClusterApis } from '../kube/cluster-apis';

export type PodApis = Pick<ClusterApis, 'core' | 'apps' | 'discovery'>;

export interface SshPodKeeperOptions {
  apis: PodApis;
  clock: Clock;
  session: string;
  owner: string;
  image: SshImage;
  keys: SshKeys;
  service: k8s.V1Service;
  ports: ExposedPort[];
  workloads: ServingWorkload[];
  pollMs: number;
  /** Whether the expose is stopping, so a wait gives up. */
  isStopping: () => boolean;
  mode: ExposeMode;
}

export class SshPodKeeper {
  private secret: k8s.V1Secret | undefined;
  /** The current pod's name; a replacement gets a fresh one. */
  podName: string | null = null;

  constructor(private readonly options: SshPodKeeperOptions) {}

  private get namespace(): string {
    return this.options.service.metadata?.namespace ?? '';
  }

  /** The Secret's name, and the pods' prefix. */
  get objectName(): string {
    return sshPodName(this.options.service.metadata?.name ?? '', this.options.session);
  }

  private spec(): SshPodSpec {
    const { session, owner, service, ports, keys, image, workloads, mode } = this.options;
    return {
      mode,
      name: this.objectName,
      namespace: this.namespace,
      session,
      owner,
      service,
      ports,
      keys,
      image,
      originalReplicas: workloads.map((w) => `${w.kind}/${w.name}=${String(w.replicas)}`).join(','),
    };
  }

  /** Creates the Secret with the keys, then the pod. */
  async create(): Promise<void> {
    const namespace = this.namespace;
    this.secret = await this.options.apis.core
      .createNamespacedSecret({ namespace, body: sshSecret(this.spec()) })
      .catch((error: unknown) => {
        throw refusal(error, `create a Secret in namespace ${namespace}`, namespace);
      });
    await this.createPod();
  }

  /** A pod of a fresh name each time, so a replacement never waits for its terminating predecessor. */
  private async createPod(): Promise<void> {
    if (!this.secret) throw new Error('the Secret is created before the pod');
    const namespace = this.namespace;
    const pod = sshPod(this.spec(), this.secret);
    const name = `${this.objectName}-${randomBytes(2).toString('hex')}`;
    if (pod.metadata) pod.metadata.name = name;
    await this.options.apis.core.createNamespacedPod({ namespace, body: pod }).catch((error: unknown) => {
      throw refusal(error, `create a pod in namespace ${namespace}`, namespace);
    });
    this.podName = name;
  }

  /**
   * Creates the pod again, and its Secret if that went too: the Secret is created again and, if
   * it still exists (409), the one made at the start is kept. So an expose never reads Secrets
   * (least privilege: create and delete are all it needs of them).
   */
  async recreate(): Promise<void> {
    const namespace = this.namespace;
    try {
      this.secret = await this.options.apis.core.createNamespacedSecret({
        namespace,
        body: sshSecret(this.spec()),
      });
    } catch (error) {
      if (errorStatus(error) !== 409 || !this.secret) throw error;
    }
    await this.createPod();
  }

  async read(): Promise<k8s.V1Pod | undefined> {
    if (!this.podName) return undefined;
    try {
      return await this.options.apis.core.readNamespacedPod({
        namespace: this.namespace,
        name: this.podName,
      });
    } catch (error) {
      if (errorStatus(error) === 404) return undefined;
      throw error;
    }
  }

  /** Polls the pod until `condition`, failing early on a waiting reason that will not pass. */
  async waitFor(condition: (pod: k8s.V1Pod) => boolean, what: string, timeoutMs: number): Promise<k8s.V1Pod> {
    const name = this.podName ?? '';
    const end = await waitForPod({
      read: () => this.read(),
      until: condition,
      isStopping: this.options.isStopping,
      clock: this.options.clock,
      timeoutMs,
      pollMs: this.options.pollMs,
    });
    switch (end.kind) {
      case 'reached':
        return end.pod;
      case 'stopped':
        throw new Error('the expose was stopped');
      case 'gone':
        throw new Error(`the SSH pod ${name} was deleted while starting`);
      case 'hopeless':
        throw await this.problem(`The SSH pod ${name} cannot start (${end.said}).`);
      case 'timed-out':
        throw new Error(`The SSH pod ${name} did not ${what} in time (${end.lastSeen}).`);
    }
  }

  /**
   * The SSH pod will not serve: `summary`, then the last lines its container logged (which say
   * why: a bad key, a missing account) and what to check.
   */
  async problem(summary: string): Promise<Error> {
    const namespace = this.namespace;
    const pod = this.podName ?? '';
    let logged = '';
    try {
      const log = await this.options.apis.core.readNamespacedPodLog({ namespace, name: pod, tailLines: 5 });
      const lines = log.trim().split('\n').filter(Boolean);
      logged = lines.length > 0 ? ` Its log ends: "${lines.join(' / ')}".` : ' Its log is empty.';
    } catch {
      // Unreadable (RBAC, the pod went): the summary still stands.
    }
    const { image, user, uid } = this.options.image;
    return new Error(
      `${summary}${logged} The SSH image setting (now ${image}) must start /usr/sbin/sshd as the account ${user} (uid ${String(uid)}); see the whole log with \`kubectl -n ${namespace} logs ${pod}\`.`,
    );
  }

  /**
   * Takes the pod out of the service: without the selector's labels the cluster routes no new
   * call to it. False where that cannot be done (no selector, or the account may not patch pods).
   * A takeover's pod has left once the Service's own selector is back.
   */
  async leaveService(): Promise<boolean> {
    // A takeover's pod is routed to by the Service's selector alone, which is given back first.
    if (this.options.mode !== 'scale-down') return true;
    const selector = this.options.service.spec?.selector ?? {};
    if (!this.podName || Object.keys(selector).length === 0) return false;
    const ours: string[] = Object.values(labels);
    const removed = Object.fromEntries(
      Object.keys(selector)
        .filter((key) => !ours.includes(key))
        .map((key) => [key, null]),
    );
    try {
      await this.options.apis.core.patchNamespacedPod(
        { namespace: this.namespace, name: this.podName, body: { metadata: { labels: removed } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      return true;
    } catch {
      return false;
    }
  }

  /** Whether the service's endpoints still name the pod. */
  async stillRouted(): Promise<boolean> {
    const slices = await this.options.apis.discovery
      .listNamespacedEndpointSlice({
        namespace: this.namespace,
        labelSelector: `kubernetes.io/service-name=${this.options.service.metadata?.name ?? ''}`,
      })
      .catch(() => ({ items: [] as k8s.V1EndpointSlice[] }));
    return slices.items.some((slice) =>
      (slice.endpoints ?? []).some((e) => e.targetRef?.name === this.podName),
    );
  }

  /** Deletes the Secret and every pod of this expose (a replacement may have left more than one). */
  async deleteAll(): Promise<void> {
    const namespace = this.namespace;
    const ignoreGone = (error: unknown): void => {
      if (errorStatus(error) !== 404) throw error;
    };
    if (this.secret)
      await this.options.apis.core
        .deleteNamespacedSecret({ namespace, name: this.objectName })
        .catch(ignoreGone);
    const pods = await this.options.apis.core.listNamespacedPod({
      namespace,
      labelSelector: `${labels.session}=${this.options.session}`,
    });
    for (const pod of pods.items) {
      if (pod.metadata?.name)
        await this.options.apis.core
          .deleteNamespacedPod({ namespace, name: pod.metadata.name })
          .catch(ignoreGone);
    }
  }
}
