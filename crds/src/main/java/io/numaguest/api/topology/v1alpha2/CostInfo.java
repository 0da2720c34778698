package io.numaguest.api.topology.v1alpha2;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

/** The cost (distance) from the zone that lists it to the zone named. */
@JsonIgnoreProperties(ignoreUnknown = true)
public record CostInfo(String name, long value) {}
