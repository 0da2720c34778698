package io.numaguest.helm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * What an operator of the chart must learn before the first VM fails: the chart's defaults cannot
 * fit every cluster (non-root VMMs, hugetlbfs-backed VMs, seccomp), so values.yaml and the README
 * must say what to change and why.
 */
class ChartDocsTest {

    private final String values = prose(Chart.read(Chart.chartDir().resolve("values.yaml")));
    private final String readme = prose(Chart.read(Chart.chartDir().resolve("README.md")));
    private final String notes = prose(Chart.read(Chart.chartDir().resolve("templates/NOTES.txt")));

    /** Joins wrapped lines (and their comment markers), so phrases are found across line breaks. */
    static String prose(String text) {
        return text.replaceAll("\\s*\\n\\s*(#\\s*)?", " ");
    }

    @Test
    void seccompDefaultIsExplainedWithTheSyscallsToAllowInALocalhostProfile() {
        for (String doc : new String[] {values, readme}) {
            assertThat(doc)
                    .contains(
                            "Unconfined",
                            "Localhost",
                            "localhostProfile",
                            "mbind",
                            "get_mempolicy",
                            "move_pages",
                            "MADV_POPULATE",
                            "CAP_SYS_NICE",
                            "set_mempolicy",
                            "not needed");
        }
        assertThat(values).contains("mbind, get_mempolicy, move_pages");
        assertThat(readme).contains("`mbind`, `get_mempolicy` and `move_pages` added");
    }

    @Test
    void sysNiceIsNotClaimedToBeForMoveAllOnly() {
        // Under RuntimeDefault, SYS_NICE is what lets the policy calls through seccomp at all.
        String dockerfile = prose(Chart.read(Chart.repoDir().resolve("docker/node-agent.Dockerfile")));
        for (String doc : new String[] {values, dockerfile}) {
            assertThat(doc)
                    .doesNotContain("SYS_NICE, for mbind with MPOL_MF_MOVE_ALL")
                    .doesNotContain("SYS_NICE is what lets mbind(MPOL_MF_MOVE_ALL)")
                    .contains("only with CAP_SYS_NICE");
        }
    }

    @Test
    void hugetlbfsLimitOfKubeletIsDocumented() {
        for (String doc : new String[] {values, readme}) {
            assertThat(doc).contains("hugetlb-prefault", "hugepages-2Mi", "prealloc=on", "host-nodes");
        }
    }

    @Test
    void socketGroupIsRecommendedForKubevirt() {
        assertThat(values).contains("uid/gid 107", "EACCES", "pod identity");
        assertThat(readme).contains("agent.socketGroup=107", "EACCES", "pod identity");
        assertThat(notes).contains("agent.socketGroup=107");
    }
}
