package io.numaguest.api.topology.v1alpha2;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import io.fabric8.kubernetes.api.model.Quantity;

/** One resource of a zone: what it has, what pods may use, what is left. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ResourceInfo(String name, Quantity capacity, Quantity allocatable, Quantity available) {}
