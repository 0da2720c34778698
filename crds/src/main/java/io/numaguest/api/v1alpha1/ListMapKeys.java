package io.numaguest.api.v1alpha1;

import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.ArrayList;
import java.util.List;

/**
 * Marks list properties as {@code x-kubernetes-list-type: map} keyed by one field, which the CRD
 * generator has no annotation for. Input: {@code "property=key,property=key"}. The key becomes
 * required on the items, as the API server demands of list-map keys.
 *
 * <p>Used only by the CRD generator at build time (its API is not on the runtime classpath).
 */
public class ListMapKeys implements SchemaCustomizer.Customizer {

    @Override
    public JSONSchemaProps apply(JSONSchemaProps schema, String input, KubernetesSerialization serialization) {
        for (String entry : input.split(",")) {
            String[] propertyAndKey = entry.trim().split("=");
            JSONSchemaProps list = schema.getProperties().get(propertyAndKey[0]);
            if (list == null || list.getItems() == null || list.getItems().getSchema() == null) {
                throw new IllegalArgumentException("no list property " + propertyAndKey[0] + " in "
                        + schema.getProperties().keySet());
            }
            String key = propertyAndKey[1];
            list.setXKubernetesListType("map");
            list.setXKubernetesListMapKeys(List.of(key));
            JSONSchemaProps item = list.getItems().getSchema();
            List<String> required = new ArrayList<>(item.getRequired() == null ? List.of() : item.getRequired());
            if (!required.contains(key)) {
                required.add(key);
                item.setRequired(required);
            }
        }
        return schema;
    }
}
