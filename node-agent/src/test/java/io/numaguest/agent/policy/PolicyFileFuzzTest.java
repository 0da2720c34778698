package io.numaguest.agent.policy;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;

/**
 * The policy file may be any file the agent is pointed at: whatever its bytes, the parser returns
 * the policies or throws an {@link InvalidPolicyFileException} that says what is wrong, never another
 * exception and never a hang, and its message repeats no line of the file longer than a name (a file
 * that is not a policy file must not reach the log). In a normal build Jazzer replays the committed
 * inputs under {@code PolicyFileFuzzTestInputs/files}; with JAZZER_FUZZ=1 it fuzzes.
 */
class PolicyFileFuzzTest {
    /** One more than the longest word {@link PolicyFile#quoted} repeats. */
    private static final int LONGER_THAN_A_NAME = 41;

    @FuzzTest(maxDuration = "30s")
    void files(byte[] file) {
        // As PolicyFileSource reads it.
        String text = new String(file, StandardCharsets.UTF_8);
        try {
            PolicyFile.parse(text);
        } catch (InvalidPolicyFileException e) {
            String message = e.getMessage();
            if (message == null || message.isBlank()) {
                throw new AssertionError("refused without saying why", e);
            }
            text.lines()
                    .map(String::strip)
                    .filter(line -> line.length() >= LONGER_THAN_A_NAME)
                    .filter(message::contains)
                    .findFirst()
                    .ifPresent(line -> {
                        throw new AssertionError("the message repeats the file's text: " + message, e);
                    });
        }
    }
}
