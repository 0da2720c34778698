package io.numaguest.agent.nativeaccess;

/** SO_PEERCRED: the process that connected, as the kernel recorded it at connect(2). */
public record PeerCredentials(int pid, int uid, int gid) {}
