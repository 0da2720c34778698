package io.numaguest.api.v1alpha1;

import io.fabric8.crdv2.generator.v1.SchemaCustomizer;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaProps;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;

/**
 * Sets {@code maxLength} on properties the CRD generator will not bound with {@code @Size}, such
 * as int-or-string quantities. The API server refuses a CEL rule whose estimated cost has no bound,
 * and a string without maxLength has none. Input: {@code "property=length,property=length"}.
 *
 * <p>Used only by the CRD generator at build time (its API is not on the runtime classpath).
 */
public class MaxLength implements SchemaCustomizer.Customizer {

    @Override
    public JSONSchemaProps apply(JSONSchemaProps schema, String input, KubernetesSerialization serialization) {
        for (String entry : input.split(",")) {
            String[] propertyAndLength = entry.trim().split("=");
            JSONSchemaProps property = schema.getProperties().get(propertyAndLength[0]);
            if (property == null) {
                throw new IllegalArgumentException("no property " + propertyAndLength[0] + " in "
                        + schema.getProperties().keySet());
            }
            property.setMaxLength(Long.parseLong(propertyAndLength[1]));
        }
        return schema;
    }
}
