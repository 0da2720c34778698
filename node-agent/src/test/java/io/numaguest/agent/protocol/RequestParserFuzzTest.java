package io.numaguest.agent.protocol;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * A message comes from any process that may connect: whatever its bytes, the parser answers with a
 * request or with an {@link InvalidRequestException} that says what is wrong, never another
 * exception (which would drop the connection without an answer) and never a hang. In a normal build
 * Jazzer replays the committed inputs under {@code RequestParserFuzzTestInputs/messages}; with
 * JAZZER_FUZZ=1 it fuzzes (docs/design.md, "Security").
 */
class RequestParserFuzzTest {
    /** No descriptor, one, a few and the most a message may carry: "fd" checks depend on the count. */
    private static final int[] FD_COUNTS = {0, 1, 3, RequestParser.MAX_FDS};

    @FuzzTest(maxDuration = "30s")
    void messages(byte[] payload) {
        for (int fdCount : FD_COUNTS) {
            try {
                RequestParser.parse(payload, fdCount);
            } catch (InvalidRequestException e) {
                if (e.getMessage() == null || e.getMessage().isBlank()) {
                    throw new AssertionError("refused without saying why (" + fdCount + " fds)", e);
                }
            }
        }
    }
}
