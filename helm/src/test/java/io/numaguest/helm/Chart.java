package io.numaguest.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders the chart the way {@code helm template} does (helm-java runs Helm as a native library,
 * offline) and parses the result into Jackson trees, so tests assert on structure, never on text.
 */
final class Chart {

    /** Release name and namespace of the plain manifests in deploy/ and of every test rendering. */
    static final String RELEASE = "numaguest";

    static final String NAMESPACE = "numaguest-system";
    /** The chart requires Kubernetes >= 1.31; render against a version inside that range. */
    static final String KUBE_VERSION = "v1.32.0";

    static final ObjectMapper YAML = new YAMLMapper(new YAMLFactory());

    private Chart() {}

    static Path chartDir() {
        return Path.of(System.getProperty("numaguest.chart.dir", "numaguest"))
                .toAbsolutePath()
                .normalize();
    }

    static Path repoDir() {
        return Path.of(System.getProperty("numaguest.repo.dir", ".."))
                .toAbsolutePath()
                .normalize();
    }

    /** Renders with the chart's defaults plus the given --set values; CRDs in crds/ are left out. */
    static Manifests render(Map<String, Object> sets) {
        return Manifests.parse(renderText(sets, true));
    }

    static Manifests render() {
        return render(Map.of());
    }

    /** Shorthand for a rendering with --set key=value pairs given as alternating arguments. */
    static Manifests render(Object... keyValues) {
        if (keyValues.length % 2 != 0) {
            throw new IllegalArgumentException("key/value pairs expected");
        }
        Map<String, Object> sets = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            sets.put((String) keyValues[i], keyValues[i + 1]);
        }
        return render(sets);
    }

    static String renderText(Map<String, Object> sets, boolean skipCrds) {
        TemplateCommand command = new Helm(chartDir())
                .template()
                .withName(RELEASE)
                .withNamespace(NAMESPACE)
                .withKubeVersion(KUBE_VERSION);
        if (skipCrds) {
            command = command.skipCrds();
        }
        for (Map.Entry<String, Object> set : sets.entrySet()) {
            command = command.set(set.getKey(), set.getValue());
        }
        return command.call();
    }

    /** Parses a multi-document YAML stream; empty documents (from disabled templates) are skipped. */
    static List<JsonNode> parseAll(String yaml) {
        List<JsonNode> documents = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            while (it.hasNextValue()) {
                JsonNode node = it.nextValue();
                if (node != null && !node.isNull() && !node.isMissingNode() && !node.isEmpty()) {
                    documents.add(node);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("rendered output is not valid YAML", e);
        }
        return documents;
    }

    static String read(Path path) {
        try {
            return Files.readString(path);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
