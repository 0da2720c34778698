package io.numaguest.api.topology.v1alpha2;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.Version;
import java.util.List;

/**
 * The NodeResourceTopology of topology.node.k8s.io/v1alpha2 (github.com/k8stopologyawareschedwg/
 * noderesourcetopology-api), the fields of its schema as the chart's CRD declares them: cluster
 * scoped, named after the node, no spec or status. The agent writes it, the operator reads it;
 * {@link io.numaguest.api.topology.NumaZones} says what numaguest puts in it. Not a CustomResource,
 * so the CRD generator leaves it alone: the CRD is someone else's, vendored in the chart.
 */
@Group(NodeResourceTopology.GROUP)
@Version(NodeResourceTopology.VERSION)
@Kind(NodeResourceTopology.KIND)
@Plural(NodeResourceTopology.PLURAL)
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
// Read as this class, not through Fabric8's kind registry (which would give a GenericKubernetesResource).
@JsonDeserialize(using = JsonDeserializer.None.class)
public class NodeResourceTopology implements HasMetadata {

    public static final String GROUP = "topology.node.k8s.io";
    public static final String VERSION = "v1alpha2";
    public static final String KIND = "NodeResourceTopology";
    public static final String PLURAL = "noderesourcetopologies";
    public static final String API_VERSION = GROUP + "/" + VERSION;
    public static final String CRD_NAME = PLURAL + "." + GROUP;

    private String apiVersion = API_VERSION;
    private String kind = KIND;
    private ObjectMeta metadata = new ObjectMeta();
    private List<String> topologyPolicies;
    private List<AttributeInfo> attributes;
    private List<Zone> zones;

    @Override
    public String getApiVersion() {
        return apiVersion;
    }

    @Override
    public void setApiVersion(String apiVersion) {
        this.apiVersion = apiVersion;
    }

    @Override
    public String getKind() {
        return kind;
    }

    public void setKind(String kind) {
        this.kind = kind;
    }

    @Override
    public ObjectMeta getMetadata() {
        return metadata;
    }

    @Override
    public void setMetadata(ObjectMeta metadata) {
        this.metadata = metadata;
    }

    /** Deprecated in v1alpha2 (attributes replace it); kept so an object read and written back keeps it. */
    public List<String> getTopologyPolicies() {
        return topologyPolicies;
    }

    public void setTopologyPolicies(List<String> topologyPolicies) {
        this.topologyPolicies = topologyPolicies;
    }

    public List<AttributeInfo> getAttributes() {
        return attributes;
    }

    public void setAttributes(List<AttributeInfo> attributes) {
        this.attributes = attributes;
    }

    public List<Zone> getZones() {
        return zones;
    }

    public void setZones(List<Zone> zones) {
        this.zones = zones;
    }
}
