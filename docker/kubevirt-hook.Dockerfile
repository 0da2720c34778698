# numaguest KubeVirt hook image: ghcr.io/numaguest/kubevirt-hook
#
# Build context: the repository root, after
#   mvn -B -ntp -pl kubevirt-hook -am package -DskipTests   (kubevirt-hook/target/numaguest-kubevirt-hook.jar)
#   make -C clients/c                                       (clients/c/build/libnumaguest-preload.so)
# See docker/README.md.
FROM eclipse-temurin:25-jre

COPY kubevirt-hook/target/numaguest-kubevirt-hook.jar /opt/numaguest/numaguest-kubevirt-hook.jar
# Loaded into QEMU in virt-launcher's compute container, not here: the hook copies it into the
# directory it shares with compute. Built against glibc 2.34 symbols at most (as on Debian 12),
# which CentOS Stream 9's virt-launcher has.
COPY clients/c/build/libnumaguest-preload.so /opt/numaguest/lib/libnumaguest-preload.so

# virt-launcher's QEMU runs as 107 (qemu) in a non-root VMI; the hook runs as the same user, so the
# library it copies and the socket it serves are that user's. Numeric, for runAsNonRoot.
USER 107:107

# The hook answers one call per VM start: a small heap, C1 only, no perf data file (read-only root).
# plugin: KubeVirt 1.9+ Plugin domain hook; sidecar: legacy hook sidecar (1.7/1.8).
ENTRYPOINT ["java", "-XX:+UseSerialGC", "-Xmx48m", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", \
            "-jar", "/opt/numaguest/numaguest-kubevirt-hook.jar"]
CMD ["plugin"]
