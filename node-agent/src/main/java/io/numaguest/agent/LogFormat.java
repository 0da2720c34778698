package io.numaguest.agent;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** One line per record on stderr, as text for people or JSON for log collectors. */
public enum LogFormat {
    text,
    json;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Routes java.util.logging (and, through slf4j-jdk14, every library) to stderr in this format. */
    public void install(Level level) {
        Logger root = Logger.getLogger("");
        for (var handler : root.getHandlers()) {
            root.removeHandler(handler);
        }
        ConsoleHandler handler = new ConsoleHandler();
        handler.setLevel(level);
        handler.setFormatter(this == json ? new JsonLines() : new TextLines());
        root.addHandler(handler);
        root.setLevel(level);
    }

    private static String stackTrace(Throwable thrown) {
        StringWriter out = new StringWriter();
        thrown.printStackTrace(new PrintWriter(out));
        return out.toString();
    }

    private static final class TextLines extends Formatter {
        @Override
        public String format(LogRecord record) {
            String line = Instant.ofEpochMilli(record.getMillis()) + " "
                    + record.getLevel().getName() + " " + shortName(record.getLoggerName()) + ": "
                    + formatMessage(record) + System.lineSeparator();
            return record.getThrown() == null ? line : line + stackTrace(record.getThrown());
        }

        private static String shortName(String logger) {
            return logger == null ? "" : logger.substring(logger.lastIndexOf('.') + 1);
        }
    }

    private static final class JsonLines extends Formatter {
        @Override
        public String format(LogRecord record) {
            ObjectNode line = JSON.createObjectNode();
            line.put("time", Instant.ofEpochMilli(record.getMillis()).toString());
            line.put("level", record.getLevel().getName());
            line.put("logger", record.getLoggerName());
            line.put("message", formatMessage(record));
            if (record.getThrown() != null) {
                line.put("exception", stackTrace(record.getThrown()));
            }
            return line + System.lineSeparator();
        }
    }
}
