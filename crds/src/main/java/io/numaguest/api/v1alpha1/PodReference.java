package io.numaguest.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;

/** The pod the target resolved to; the agent accepts requests only from this pod's VMM. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class PodReference {

    private String name;
    private String uid;

    public PodReference() {}

    public PodReference(String name, String uid) {
        this.name = name;
        this.uid = uid;
    }

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public String getUid() {
        return uid;
    }

    public void setUid(String uid) {
        this.uid = uid;
    }
}
