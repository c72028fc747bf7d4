/** The `scale` scenario: many services over few pods, every one with ready endpoints. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { field } from '../api/objects';
import { resourceTypeOfKind } from '../api/resources';
import { startTestCluster, type TestCluster } from '../test-cluster';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster({ scenario: 'scale', scenarioOptions: { namespaces: 3, services: 40 } });
});
afterAll(() => cluster.stop());

it('creates namespaces × services, each with one ready endpoint, from one pod per namespace', async () => {
  const services = cluster.store
    .list(resourceTypeOfKind('Service'))
    .filter((s) => s.metadata.namespace?.startsWith('scale-'));
  expect(services).toHaveLength(120);
  expect(
    cluster.store.list(resourceTypeOfKind('Pod')).filter((p) => p.metadata.namespace?.startsWith('scale-')),
  ).toHaveLength(3);
  const slices = resourceTypeOfKind('EndpointSlice');
  await expect
    .poll(
      () =>
        cluster.store
          .list(slices)
          .filter((s) => s.metadata.namespace?.startsWith('scale-'))
          .filter((s) =>
            (field(s, 'endpoints') as { conditions: { ready: boolean } }[]).some((e) => e.conditions.ready),
          ).length,
      { timeout: 20_000 },
    )
    .toBe(120);
});
