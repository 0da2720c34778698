package io.numaguest.agent.memory;

import io.numaguest.agent.error.AgentException;
import io.numaguest.agent.error.ErrorCode;
import io.numaguest.agent.nativeaccess.Extent;
import io.numaguest.agent.nativeaccess.KernelFiles;
import io.numaguest.agent.nativeaccess.NativeException;
import io.numaguest.agent.policy.GuestNodePolicy;
import java.util.List;

/**
 * The unmerged fbind() syscall of the November 2024 RFC, by the number an operator configured for a
 * kernel that carries the patch: a policy on a guest_memfd that cannot be mapped.
 *
 * <p>Verified: never. Nothing reads fbind's policy back, so the kernel's acceptance is all there is.
 */
final class Fbind implements PlacementMechanism {
    private final long syscallNumber;

    Fbind(long syscallNumber) {
        this.syscallNumber = syscallNumber;
    }

    @Override
    public PolicyMechanism name() {
        return PolicyMechanism.FBIND;
    }

    /** The whole file gets the policy: fbind takes no range. */
    @Override
    public RegionOutcome place(GuestMemoryFile file, Extent range, GuestNodePolicy policy) throws AgentException {
        try {
            KernelFiles.fbind(syscallNumber, file.fd(), policy.toKernel());
        } catch (NativeException e) {
            throw new AgentException(ErrorCode.POLICY_REJECTED, "fbind (syscall " + syscallNumber + ") refused", e);
        }
        return RegionOutcome.placed(file, policy, name())
                .verified(false)
                .notes(List.of("fbind's policy cannot be read back: the kernel accepted it, nothing verified it"))
                .build();
    }
}
