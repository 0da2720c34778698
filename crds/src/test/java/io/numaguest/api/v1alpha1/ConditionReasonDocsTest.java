package io.numaguest.api.v1alpha1;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** docs/operations.md says what every condition reason means and what to do: exactly the reasons the code has. */
class ConditionReasonDocsTest {

    private static final Path OPERATIONS = Path.of("../docs/operations.md");

    @Test
    void theOperationsTableListsEveryReasonAndNoOther() throws IOException {
        String doc = Files.readString(OPERATIONS);
        String table =
                doc.substring(doc.indexOf("<!-- condition-reasons -->"), doc.indexOf("<!-- /condition-reasons -->"));
        Matcher row = Pattern.compile("(?m)^\\| `(\\w+)` \\|").matcher(table);
        List<String> documented = row.results().map(match -> match.group(1)).toList();

        assertThat(documented)
                .as("reasons in %s", OPERATIONS)
                .containsExactlyInAnyOrder(
                        Arrays.stream(ConditionReason.values()).map(Enum::name).toArray(String[]::new));
    }
}
