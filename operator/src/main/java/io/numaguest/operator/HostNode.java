package io.numaguest.operator;

import java.util.Map;

/**
 * One NUMA node of the Kubernetes node a VM runs on.
 *
 * @param distances SLIT distance to other host nodes by id; the kernel's defaults (10 local, 20
 *     remote) stand in for missing entries
 */
public record HostNode(int id, long memTotalBytes, long memFreeBytes, Map<Integer, Integer> distances) {

  static final int LOCAL_DISTANCE = 10;
  static final int REMOTE_DISTANCE = 20;

  public HostNode {
    distances = Map.copyOf(distances);
  }

  public boolean hasMemory() {
    return memTotalBytes > 0;
  }

  public int distanceTo(int other) {
    return distances.getOrDefault(other, other == id ? LOCAL_DISTANCE : REMOTE_DISTANCE);
  }
}
