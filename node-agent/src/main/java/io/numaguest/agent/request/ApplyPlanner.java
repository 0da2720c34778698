package io.numaguest.agent.request;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.memory.GuestMemoryFile;
import io.numaguest.agent.memory.PolicyMechanism;
import io.numaguest.agent.memory.RegionEnforcer;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.OpenMode;
import io.numaguest.agent.policy.GuestNodePolicy;
import io.numaguest.agent.policy.PolicySource;
import io.numaguest.agent.topology.HostTopology;
import io.numaguest.agent.topology.NodeList;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedSet;
import java.util.function.Supplier;

/**
 * Validates every region of a request before anything is applied, so that a bad region changes
 * nothing: the descriptor is guest memory, the range lies in it and overlaps no other region of the
 * same file; for an apply also that the descriptor is open read-write, the source has a policy whose
 * host nodes this host can use (and so can the VMM's cpuset), and which mechanism the file needs.
 */
public final class ApplyPlanner {
    private final PolicySource policies;
    private final RegionEnforcer enforcer;
    private final Supplier<HostTopology> topologyReader;
    private volatile HostTopology topology;

    public ApplyPlanner(PolicySource policies, RegionEnforcer enforcer, Supplier<HostTopology> topologyReader) {
        this.policies = policies;
        this.enforcer = enforcer;
        this.topologyReader = topologyReader;
        this.topology = topologyReader.get();
    }

    /** Reads the host's topology anew (hello reports it) and plans with it from now on. */
    public HostTopology refreshTopology() {
        HostTopology current = topologyReader.get();
        topology = current;
        return current;
    }

    public ApplyPlan planApply(Request request, int[] fds, Vmm vmm) {
        Map<Integer, GuestMemoryFile> files = new HashMap<>();
        Map<Integer, PolicyMechanism> mechanisms = new HashMap<>();
        List<PlannedRegion> planned = new ArrayList<>(request.regions().size());
        List<InspectedRegion> inspected = new ArrayList<>(request.regions().size());
        for (int i = 0; i < request.regions().size(); i++) {
            Request.RegionRequest asked = request.regions().get(i);
            try {
                InspectedRegion region = inspect(i, asked, fds, files, inspected);
                if (region.file().openMode() != OpenMode.READ_WRITE) {
                    throw new AgentException(
                            ErrorCode.BAD_FD,
                            "descriptor is open read-only: the agent sets a file's policy "
                                    + "(and moves its pages) only through a descriptor open read-write, as the VMM's own is");
                }
                GuestNodePolicy policy = policyFor(request, asked);
                String caveat = vmmCaveat(policy, vmm);
                PolicyMechanism mechanism = mechanisms.get(asked.fd());
                if (mechanism == null) {
                    mechanism = enforcer.mechanismFor(region.file());
                    mechanisms.put(asked.fd(), mechanism);
                }
                inspected.add(region);
                planned.add(new PlannedRegion(region, policy, mechanism, caveat));
            } catch (AgentException e) {
                return new ApplyPlan.Rejected(request.vm(), vmm, asked.guestNode(), e.within(context(i, asked)));
            }
        }
        return new ApplyPlan.Ready(request.vm(), vmm, planned);
    }

    /** The regions of a query, each checked as for an apply except for anything about policies. */
    public List<InspectedRegion> planQuery(Request request, int[] fds) throws AgentException {
        Map<Integer, GuestMemoryFile> files = new HashMap<>();
        List<InspectedRegion> inspected = new ArrayList<>(request.regions().size());
        for (int i = 0; i < request.regions().size(); i++) {
            Request.RegionRequest asked = request.regions().get(i);
            try {
                inspected.add(inspect(i, asked, fds, files, inspected));
            } catch (AgentException e) {
                throw e.within(context(i, asked));
            }
        }
        return inspected;
    }

    static String context(int index, Request.RegionRequest region) {
        return "region " + index + " (guest node " + region.guestNode() + ")";
    }

    /** The descriptor inspected once per request however many regions name it, the range checked against it. */
    private InspectedRegion inspect(
            int index,
            Request.RegionRequest asked,
            int[] fds,
            Map<Integer, GuestMemoryFile> files,
            List<InspectedRegion> earlier)
            throws AgentException {
        GuestMemoryFile file = files.get(asked.fd());
        if (file == null) {
            file = GuestMemoryFile.inspect(fds[asked.fd()]);
            files.put(asked.fd(), file);
        }
        Extent range = enforcer.range(file, asked.offset(), asked.length());
        checkNoOverlap(earlier, asked.fd(), file, range);
        return new InspectedRegion(index, asked, file, range);
    }

    private GuestNodePolicy policyFor(Request request, Request.RegionRequest region) throws AgentException {
        GuestNodePolicy policy = policies.find(request.vm(), region.guestNode())
                .orElseThrow(() -> new AgentException(
                        ErrorCode.NO_POLICY,
                        "no policy for guest node " + region.guestNode() + " of VM " + request.vm()));
        for (int node : policy.hostNodes()) {
            Optional<String> unusable = topology.unusableReason(node);
            if (unusable.isPresent()) {
                topology = topologyReader.get(); // a node may have come online since the last read
                unusable = topology.unusableReason(node);
            }
            if (unusable.isPresent()) {
                throw new AgentException(
                        ErrorCode.POLICY_REJECTED,
                        "policy " + policy.policy() + " " + policy.hostNodes() + " cannot be applied: "
                                + unusable.get());
            }
        }
        return policy;
    }

    /**
     * A shared policy is evaluated in the task that allocates, the VMM, and the kernel confines every
     * allocation to that task's cpuset mems. Host nodes outside them are ignored: all of them, and the
     * policy cannot work at all (refused); some of them, and it works in part (not verified).
     */
    private static String vmmCaveat(GuestNodePolicy policy, Vmm vmm) throws AgentException {
        Optional<SortedSet<Integer>> vmmMems = vmm.memsAllowed();
        if (vmmMems.isEmpty()
                || !policy.policy().takesHostNodes()
                || vmmMems.get().containsAll(policy.hostNodes())) {
            return null;
        }
        List<Integer> usable =
                policy.hostNodes().stream().filter(vmmMems.get()::contains).toList();
        String mems = "the VMM (pid " + vmm.credentials().pid() + ") may allocate only on host nodes "
                + NodeList.format(vmmMems.get()) + " (its cpuset's mems)";
        if (usable.isEmpty()) {
            throw new AgentException(
                    ErrorCode.POLICY_REJECTED,
                    mems + ", so the kernel would ignore a policy on host nodes " + policy.hostNodes()
                            + ": place this guest node within the VMM's cpuset, or widen it");
        }
        return mems + ": of host nodes " + policy.hostNodes() + " only " + usable + " can be used";
    }

    /** Regions overlap when they share bytes of one file (device and inode), whichever descriptors name it. */
    private static void checkNoOverlap(List<InspectedRegion> earlier, int fdIndex, GuestMemoryFile file, Extent range)
            throws AgentException {
        for (InspectedRegion other : earlier) {
            boolean sameFile =
                    other.file().device() == file.device() && other.file().inode() == file.inode();
            if (sameFile
                    && other.range().offset() < range.end()
                    && range.offset() < other.range().end()) {
                throw new AgentException(
                        ErrorCode.BAD_REQUEST,
                        "overlaps the region of guest node "
                                + other.request().guestNode()
                                + (other.request().fd() == fdIndex
                                        ? " on the same descriptor"
                                        : " on descriptor " + other.request().fd() + ", which is the same file (inode "
                                                + file.inode() + ")"));
            }
        }
    }
}
