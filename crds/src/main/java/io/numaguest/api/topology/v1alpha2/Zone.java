package io.numaguest.api.topology.v1alpha2;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/** A resource topology zone (a NUMA node, socket, die, core). */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record Zone(
        String name,
        String type,
        String parent,
        List<CostInfo> costs,
        List<AttributeInfo> attributes,
        List<ResourceInfo> resources) {}
