# Sourced by the scripts here: finds a JDK 25 (the FFM API is final from 22; the build targets 25)
# and puts it first, whatever the default `java` on this machine is.
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }
if [ -z "${JAVA_HOME:-}" ] || [ "$(java_major "$JAVA_HOME" 2>/dev/null || echo 0)" -lt 25 ] 2>/dev/null; then
  JAVA_HOME=
  for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk* /usr/lib/jvm/*25* /opt/java/openjdk; do
    if [ -x "$candidate/bin/java" ] && [ "$(java_major "$candidate")" -ge 25 ] 2>/dev/null; then
      JAVA_HOME=$candidate; break
    fi
  done
  if [ -z "$JAVA_HOME" ]; then
    echo "numaguest: no JDK 25 found (looked in /usr/lib/jvm); install Temurin 25 or set JAVA_HOME" >&2
    exit 1
  fi
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
# Maven 3.8 bundles a Guava that touches sun.misc.Unsafe; JDK 25 warns about it on every run.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
