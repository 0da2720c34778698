package io.numaguest.api.topology.v1alpha2;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** A named attribute of an object or a zone. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record AttributeInfo(String name, String value) {}
