package io.numaguest.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The CRD is generated from the model at build time, and committed twice for users who have only a
 * checkout: {@code kubectl apply -f crds/} and the Helm chart's {@code crds/}. Both copies must be
 * the generated file, byte for byte, but for one thing the generator cannot do: it sorts the printer
 * columns by JSON path, and the committed copies have them in the order NumaGuestMemory declares
 * them (the order kubectl shows them in).
 */
class CommittedCrdTest {

    private static final String FILE = "numaguestmemories.numaguest.io-v1.yml";
    private static final Path GENERATED = Path.of("target/classes/META-INF/fabric8", FILE);
    private static final List<Path> COMMITTED = List.of(Path.of(FILE), Path.of("../helm/numaguest/crds", FILE));
    private static final String UPDATE_PROPERTY = "numaguest.updateCrds";

    @Test
    void committedCopiesMatchTheGeneratedCrd() throws IOException {
        String generated = inDeclaredColumnOrder(Files.readString(GENERATED));
        for (Path copy : COMMITTED) {
            if (Boolean.getBoolean(UPDATE_PROPERTY)) {
                Files.createDirectories(copy.toAbsolutePath().getParent());
                Files.writeString(copy, generated);
            }
            assertThat(copy)
                    .as(
                            "%s is not the CRD generated from the model; regenerate both copies with: mvn -pl crds -o test -D%s",
                            copy.normalize(), UPDATE_PROPERTY)
                    .exists();
            assertThat(Files.readString(copy))
                    .as(
                            "%s differs from the CRD generated from the model; regenerate both copies with: mvn -pl crds -o test -D%s",
                            copy.normalize(), UPDATE_PROPERTY)
                    .isEqualTo(generated);
        }
    }

    @Test
    void printerColumnsAreInTheDeclaredOrder() throws IOException {
        List<String> lines = Files.readAllLines(COMMITTED.getFirst());
        int start = lines.indexOf("  - additionalPrinterColumns:");
        int end = lines.indexOf("    name: v1alpha1");
        List<String> names = lines.subList(start, end).stream()
                .filter(line -> line.startsWith("      name: "))
                .map(line -> line.substring("      name: ".length()))
                .toList();

        assertThat(names).containsExactly(declaredColumns().toArray(String[]::new));
    }

    private static List<String> declaredColumns() {
        return Arrays.stream(NumaGuestMemory.class.getAnnotationsByType(AdditionalPrinterColumn.class))
                .map(AdditionalPrinterColumn::name)
                .toList();
    }

    /**
     * The generated YAML with its additionalPrinterColumns items (each "    - jsonPath: ..." and the
     * lines indented under it) reordered as declared on the class.
     */
    static String inDeclaredColumnOrder(String yaml) {
        List<String> lines = yaml.lines().toList();
        int start = lines.indexOf("  - additionalPrinterColumns:") + 1;
        int end = start;
        List<List<String>> items = new ArrayList<>();
        while (end < lines.size()
                && (lines.get(end).startsWith("    - ") || lines.get(end).startsWith("      "))) {
            if (lines.get(end).startsWith("    - ")) {
                items.add(new ArrayList<>());
            }
            items.getLast().add(lines.get(end));
            end++;
        }
        Map<String, List<String>> byName = new LinkedHashMap<>();
        for (List<String> columnLines : items) {
            String name = columnLines.stream()
                    .filter(line -> line.startsWith("      name: "))
                    .findFirst()
                    .orElseThrow()
                    .substring("      name: ".length());
            byName.put(name, columnLines);
        }
        List<String> result = new ArrayList<>(lines.subList(0, start));
        declaredColumns().forEach(name -> result.addAll(byName.get(name)));
        result.addAll(lines.subList(end, lines.size()));
        return String.join("\n", result) + "\n";
    }
}
