/**
 * Listing what Localizer left across a cluster when the account may not list cluster-wide:
 * what cleanup needs, for an account bound only to a namespaced Role.
 */
import { errorStatus } from './api-errors';

/** Lists cluster-wide, or per namespace when RBAC forbids that (a namespace it may not list counts as empty). */
export async function listEverywhere<T>(
  all: () => Promise<{ items: T[] }>,
  perNamespace: (namespace: string) => Promise<{ items: T[] }>,
  namespaces: readonly string[],
): Promise<T[]> {
  try {
    return (await all()).items;
  } catch (error) {
    if (errorStatus(error) !== 403) throw error;
    const lists = await Promise.all(
      namespaces.map((namespace) => perNamespace(namespace).catch(() => ({ items: [] as T[] }))),
    );
    return lists.flatMap((list) => list.items);
  }
}
