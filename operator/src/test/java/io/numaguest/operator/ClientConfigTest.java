package io.numaguest.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.Config;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClientConfigTest {

    @TempDir
    Path dir;

    @AfterEach
    void forgetKubeconfig() {
        System.clearProperty(Config.KUBERNETES_KUBECONFIG_FILE);
    }

    @Test
    void aClientCertificateAloneNeedsNoTokenRefresh() throws IOException {
        useKubeconfig("""
          user:
            client-certificate: client.crt
            client-key: client.key
        """);

        Config config = Main.clientConfig();

        assertThat(config.getClientCertFile()).endsWith("client.crt");
        assertThat(config.getOauthTokenProvider()).isNotNull();
        assertThat(config.getOauthTokenProvider().getToken()).isNull();
    }

    @Test
    void aTokenIsLeftToFabric8sRefresh() throws IOException {
        useKubeconfig("""
          user:
            token: abc
        """);

        Config config = Main.clientConfig();

        assertThat(config.getAutoOAuthToken()).isEqualTo("abc");
        assertThat(config.getOauthTokenProvider()).isNull();
    }

    private void useKubeconfig(String user) throws IOException {
        Path kubeconfig = dir.resolve("kubeconfig");
        Files.writeString(kubeconfig, """
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster:
            server: https://127.0.0.1:6443
        contexts:
        - name: test
          context:
            cluster: test
            user: test
        current-context: test
        users:
        - name: test
        """ + user);
        System.setProperty(Config.KUBERNETES_KUBECONFIG_FILE, kubeconfig.toString());
    }
}
