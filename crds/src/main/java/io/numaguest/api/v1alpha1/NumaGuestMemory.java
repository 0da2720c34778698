package io.numaguest.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.crd.generator.annotation.AdditionalSelectableField;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Kind;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** NUMA placement of one VM's guest memory on the host it runs on. */
@Group(NumaGuestMemory.GROUP)
@Version("v1alpha1")
@Kind("NumaGuestMemory")
@Plural("numaguestmemories")
@ShortNames("ngm")
@Categories("all")
// kubectl shows these after Name in this order: the generator sorts them by jsonPath, and the
// committed CRD has them as declared here (CommittedCrdTest). Priority 1: only with -o wide.
@AdditionalPrinterColumn(
        name = "Target",
        jsonPath = ".status.targetPod.name",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Node", jsonPath = ".status.nodeName", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
        name = "Ready",
        jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
        name = "Mechanism",
        jsonPath = ".status.applied[0].mechanism",
        type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
        name = "Age",
        jsonPath = ".metadata.creationTimestamp",
        type = AdditionalPrinterColumn.Type.DATE)
@AdditionalPrinterColumn(
        name = "Placement",
        jsonPath = ".status.placementSummary",
        type = AdditionalPrinterColumn.Type.STRING,
        priority = 1)
@AdditionalPrinterColumn(
        name = "Reason",
        jsonPath = ".status.conditions[?(@.type==\"Ready\")].reason",
        type = AdditionalPrinterColumn.Type.STRING,
        priority = 1)
// A node's agent lists and watches only the NGMs whose status names its node, by field selector on
// the operator's decision: no label to write beside the status (kubectl get ngm --field-selector).
@AdditionalSelectableField(jsonPath = ".status.nodeName")
@AdditionalSelectableField(jsonPath = ".status.migration.nodeName")
public class NumaGuestMemory extends CustomResource<NumaGuestMemorySpec, NumaGuestMemoryStatus> implements Namespaced {

    public static final String GROUP = "numaguest.io";

    /** Field selector key of the node the VM runs on (the operator's {@code status.nodeName}). */
    public static final String NODE_FIELD = "status.nodeName";

    /** Field selector key of the node a live migration takes the VM to, while it runs. */
    public static final String MIGRATION_TARGET_NODE_FIELD = "status.migration.nodeName";
}
