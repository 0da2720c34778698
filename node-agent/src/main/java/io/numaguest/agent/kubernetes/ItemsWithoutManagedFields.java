package io.numaguest.agent.kubernetes;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.informers.cache.BasicItemStore;
import io.fabric8.kubernetes.client.informers.cache.Cache;

/**
 * The informer's store without metadata.managedFields: the agent reads none of it, and it is most of a
 * cached object (every field manager's field tree as nested maps), heap the agent would pay per NGM
 * on its node.
 */
final class ItemsWithoutManagedFields<T extends HasMetadata> extends BasicItemStore<T> {

    ItemsWithoutManagedFields() {
        super(Cache::metaNamespaceKeyFunc);
    }

    @Override
    public T put(String key, T item) {
        item.getMetadata().setManagedFields(null);
        return super.put(key, item);
    }
}
