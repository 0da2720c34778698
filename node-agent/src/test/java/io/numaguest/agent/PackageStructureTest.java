package io.numaguest.agent;

import static com.tngtech.archunit.core.domain.JavaCall.Predicates.target;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.type;
import static com.tngtech.archunit.core.domain.properties.HasName.Predicates.name;
import static com.tngtech.archunit.core.domain.properties.HasOwner.Predicates.With.owner;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.lang.invoke.MethodHandle;
import org.junit.jupiter.api.Test;

/** The agent's packages as compiled: layered, so each can be read (and tested) without those above it. */
class PackageStructureTest {
    private static final JavaClasses AGENT = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.numaguest.agent");

    @Test
    void noPackageCycles() {
        slices().matching("io.numaguest.agent.(*)..").should().beFreeOfCycles().check(AGENT);
    }

    @Test
    void theLayersBelowTheWireKnowNothingOfIt() {
        noClasses()
                .that()
                .resideInAnyPackage(
                        "..agent.request..",
                        "..agent.memory..",
                        "..agent.policy..",
                        "..agent.topology..",
                        "..agent.error..",
                        "..agent.nativeaccess..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("..agent.protocol..", "..agent.server..", "..agent.kubernetes..")
                .check(AGENT);
    }

    @Test
    void onlyNativeAccessTouchesForeignMemory() {
        noClasses()
                .that()
                .resideOutsideOfPackage("..agent.nativeaccess..")
                .should()
                .dependOnClassesThat()
                .resideInAPackage("java.lang.foreign..")
                .check(AGENT);
    }

    /** Above Libc, calls pass Java values to typed methods: no downcall handle with casts written by hand. */
    @Test
    void onlyLibcInvokesDowncallHandles() {
        noClasses()
                .that()
                .doNotHaveFullyQualifiedName("io.numaguest.agent.nativeaccess.Libc")
                .should()
                .callMethodWhere(target(name("invokeExact")).and(target(owner(type(MethodHandle.class)))))
                .orShould()
                .callMethodWhere(target(name("invoke")).and(target(owner(type(MethodHandle.class)))))
                .check(AGENT);
    }

    @Test
    void nativeAccessStandsOnNothingOfTheAgent() {
        noClasses()
                .that()
                .resideInAPackage("..agent.nativeaccess..")
                .should()
                .dependOnClassesThat()
                .resideOutsideOfPackages("..agent.nativeaccess..", "java..")
                .check(AGENT);
    }
}
