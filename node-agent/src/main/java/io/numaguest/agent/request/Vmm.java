package io.numaguest.agent.request;

import io.numaguest.agent.nativeaccess.PeerCredentials;
import java.util.Optional;
import java.util.SortedSet;

/**
 * The VMM on the other end of a connection: its credentials, and its cpuset's mems, read once per
 * connection rather than on every apply (a VMM's cpuset does not change under a running connection
 * in practice); empty when they could not be read.
 */
public record Vmm(PeerCredentials credentials, Optional<SortedSet<Integer>> memsAllowed) {}
