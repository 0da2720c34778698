package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;

/** Why the agent did not apply a guest node's policy: the protocol's error code and message. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class ApplyError {

    private String code;
    private String message;

    public ApplyError() {}

    public ApplyError(String code, String message) {
        this.code = code;
        this.message = message;
    }

    public String getCode() {
        return code;
    }

    public void setCode(String code) {
        this.code = code;
    }

    public String getMessage() {
        return message;
    }

    public void setMessage(String message) {
        this.message = message;
    }
}
