package io.numaguest.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** The objects of one rendering, looked up by kind and name. */
record Manifests(List<JsonNode> objects) {

    static Manifests parse(String yaml) {
        return new Manifests(Chart.parseAll(yaml));
    }

    List<JsonNode> ofKind(String kind) {
        return objects.stream()
                .filter(o -> kind.equals(o.path("kind").asText()))
                .toList();
    }

    /** The only object of that kind; fails the test when there are none or several. */
    JsonNode single(String kind) {
        List<JsonNode> found = ofKind(kind);
        assertThat(found).as("objects of kind %s", kind).hasSize(1);
        return found.getFirst();
    }

    JsonNode named(String kind, String name) {
        List<JsonNode> found = ofKind(kind).stream()
                .filter(o -> name.equals(o.path("metadata").path("name").asText()))
                .toList();
        assertThat(found).as("%s named %s among %s", kind, name, names(kind)).hasSize(1);
        return found.getFirst();
    }

    List<String> names(String kind) {
        return ofKind(kind).stream()
                .map(o -> o.path("metadata").path("name").asText())
                .toList();
    }

    List<String> kinds() {
        return objects.stream()
                .map(o -> o.path("kind").asText())
                .distinct()
                .sorted()
                .collect(Collectors.toList());
    }

    static List<String> texts(JsonNode array) {
        List<String> values = new ArrayList<>();
        array.forEach(v -> values.add(v.asText()));
        return values;
    }
}
