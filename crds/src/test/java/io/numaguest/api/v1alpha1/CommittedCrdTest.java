package io.numaguest.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The CRD is generated from the model at build time, and committed twice for users who have only a
 * checkout: {@code kubectl apply -f crds/} and the Helm chart's {@code crds/}. Both copies must be
 * the generated file, byte for byte.
 */
class CommittedCrdTest {

  private static final String FILE = "numaguestmemories.numaguest.io-v1.yml";
  private static final Path GENERATED = Path.of("target/classes/META-INF/fabric8", FILE);
  private static final List<Path> COMMITTED = List.of(Path.of(FILE), Path.of("../helm/numaguest/crds", FILE));
  private static final String UPDATE_PROPERTY = "numaguest.updateCrds";

  @Test
  void committedCopiesMatchTheGeneratedCrd() throws IOException {
    String generated = Files.readString(GENERATED);
    for (Path copy : COMMITTED) {
      if (Boolean.getBoolean(UPDATE_PROPERTY)) {
        Files.createDirectories(copy.toAbsolutePath().getParent());
        Files.writeString(copy, generated);
      }
      assertThat(copy)
          .as("%s is not the CRD generated from the model; regenerate both copies with: mvn -pl crds -o test -D%s",
              copy.normalize(), UPDATE_PROPERTY)
          .exists();
      assertThat(Files.readString(copy))
          .as("%s differs from the CRD generated from the model; regenerate both copies with: mvn -pl crds -o test -D%s",
              copy.normalize(), UPDATE_PROPERTY)
          .isEqualTo(generated);
    }
  }
}
