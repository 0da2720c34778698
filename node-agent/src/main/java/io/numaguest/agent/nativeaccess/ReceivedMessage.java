package io.numaguest.agent.nativeaccess;

/**
 * One SEQPACKET message. The receiver owns {@code fds} and must close every one of them.
 * {@code payloadTruncated}: the message was longer than the buffer. {@code fdsTruncated}: the
 * sender attached more descriptors than the receiver accepts; the kernel closed the excess.
 */
public record ReceivedMessage(byte[] payload, int[] fds, boolean payloadTruncated, boolean fdsTruncated) {}
