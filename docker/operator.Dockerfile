# numaguest operator image: ghcr.io/numaguest/operator
#
# Build context: the repository root, after `mvn -B -ntp -pl operator -am package -DskipTests`
# has produced the shaded jar operator/target/numaguest-operator.jar. See docker/README.md.
FROM eclipse-temurin:25-jre

COPY operator/target/numaguest-operator.jar /opt/numaguest/numaguest-operator.jar

# The operator only talks to the API server: it runs as an unprivileged user. Numeric, so that
# Kubernetes' runAsNonRoot check can verify it without reading /etc/passwd.
USER 65532:65532

# /metrics, /healthz, /readyz
EXPOSE 8080

ENTRYPOINT ["java", "-jar", "/opt/numaguest/numaguest-operator.jar"]
CMD ["--metrics-port", "8080"]
