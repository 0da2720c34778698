/*
 * Unit tests of the QEMU command-line reader (qemu_cmdline.c) on command
 * lines in the shapes libvirt 9 writes (JSON -object/-device, keyval -numa,
 * -machine memory-backend=), as KubeVirt's virt-launcher gets them through
 * libvirt (-name guest=<namespace>_<name>), and as people type them (keyval).
 * Run by make -C clients/c test.
 */
#define _POSIX_C_SOURCE 200809L

#include "qemu_cmdline.h"

#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
        failures++; \
        printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
        printf(__VA_ARGS__); \
        printf("\n"); \
    } \
} while (0)

static struct qc_vm vm;
static char error[QC_MAX_ERROR];

/* Splits a command line at spaces (no quoting: the tests' values have none)
 * and parses it. */
static int parse(const char *line)
{
    static char copy[16384];
    static char *argv[256];
    int argc = 0;
    snprintf(copy, sizeof copy, "%s", line);
    for (char *save, *arg = strtok_r(copy, " ", &save); arg != NULL; arg = strtok_r(NULL, " ", &save))
        argv[argc++] = arg;
    return qc_parse(argc, argv, &vm, error);
}

static const struct qc_backend *backend(const char *id)
{
    for (size_t i = 0; i < vm.nbackends; i++)
        if (strcmp(vm.backends[i].id, id) == 0)
            return &vm.backends[i];
    return NULL;
}

static void expect_refused(const char *line, const char *reason_part)
{
    int result = parse(line);
    CHECK(result < 0, "accepted: %s", line);
    CHECK(strstr(error, reason_part) != NULL, "reason '%s' lacks '%s'", error, reason_part);
}

static void libvirt_numa_memfd(void)
{
    /* <memoryBacking><source type='memfd'/><access mode='shared'/><hugepages/>
     * with two <cell>s, libvirt 9 on QEMU 7.2. */
    int result = parse(
        "/usr/bin/qemu-system-x86_64 -name guest=vm1,debug-threads=on -S "
        "-object {\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"format\":\"raw\",\"file\":\"/var/lib/libvirt/qemu/domain-1-vm1/master-key.aes\"} "
        "-machine pc-q35-7.2,usb=off,dump-guest-core=off -accel kvm -cpu host,migratable=on "
        "-m size=4194304k -overcommit mem-lock=off -smp 4,sockets=4,cores=1,threads=1 "
        "-object {\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node0\",\"hugetlb\":true,\"hugetlbsize\":2097152,\"share\":true,\"prealloc\":true,\"size\":2147483648} "
        "-numa node,nodeid=0,cpus=0-1,memdev=ram-node0 "
        "-object {\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node1\",\"hugetlb\":true,\"hugetlbsize\":2097152,\"share\":true,\"prealloc\":true,\"size\":2147483648} "
        "-numa node,nodeid=1,cpus=2-3,memdev=ram-node1 "
        "-uuid 7e0b5b4e-6c48-4c1e-9d11-2f2d4f0f8a11 -no-user-config -nodefaults "
        "-chardev socket,id=charmonitor,fd=31,server=on,wait=off -mon chardev=charmonitor,id=monitor,mode=control "
        "-device {\"driver\":\"virtio-balloon-pci\",\"id\":\"balloon0\",\"bus\":\"pci.3\",\"addr\":\"0x0\"} "
        "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny -msg timestamp=on");
    CHECK(result == 0, "%s", error);
    CHECK(vm.nbackends == 2, "%zu backends", vm.nbackends);
    CHECK(strcmp(vm.guest_name, "vm1") == 0, "guest name %s", vm.guest_name);
    const struct qc_backend *b0 = backend("ram-node0"), *b1 = backend("ram-node1");
    CHECK(b0 && b0->kind == QC_MEMFD && b0->guest_node == 0 && b0->size == 2147483648ULL
              && b0->hugetlb && b0->share == 1 && !b0->own_policy, "ram-node0");
    CHECK(b1 && b1->guest_node == 1, "ram-node1");
}

static void libvirt_numatune_memnode_is_own_policy(void)
{
    /* <numatune><memnode cellid='0' mode='strict' nodeset='0'/>: libvirt puts
     * host-nodes and policy on the backend, as KubeVirt's NUMA passthrough does. */
    int result = parse(
        "qemu-system-x86_64 -name guest=default_vm1,debug-threads=on "
        "-machine pc-q35-7.2,usb=off,dump-guest-core=off -m size=2097152k "
        "-object {\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node0\",\"share\":true,\"size\":2147483648,\"host-nodes\":[0],\"policy\":\"bind\"} "
        "-numa node,nodeid=0,cpus=0-1,memdev=ram-node0");
    CHECK(result == 0, "%s", error);
    CHECK(backend("ram-node0") && backend("ram-node0")->own_policy, "host-nodes not seen");
    CHECK(strcmp(vm.guest_name, "default_vm1") == 0, "guest name %s", vm.guest_name);
}

static void libvirt_without_numa_uses_machine_backend(void)
{
    /* No <numa>: libvirt 9 names the RAM backend pc.ram on -machine. */
    int result = parse(
        "qemu-system-x86_64 -name guest=kubevirt-test_vm-b,debug-threads=on "
        "-machine pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram -accel kvm "
        "-m size=1048576k "
        "-object {\"qom-type\":\"memory-backend-memfd\",\"id\":\"pc.ram\",\"share\":true,\"x-use-canonical-path-for-ramblock-id\":false,\"size\":1073741824} "
        "-smp 1,sockets=1,dies=1,cores=1,threads=1");
    CHECK(result == 0, "%s", error);
    CHECK(backend("pc.ram") && backend("pc.ram")->guest_node == 0, "pc.ram not guest node 0");
}

static void kubevirt_default_ram_is_refused(void)
{
    /* virt-launcher's default memory: anonymous memory-backend-ram. */
    expect_refused(
        "/usr/libexec/qemu-kvm -name guest=default_vm1,debug-threads=on -S "
        "-machine pc-q35-rhel9.2.0,usb=off,dump-guest-core=off,memory-backend=pc.ram "
        "-accel kvm -cpu host -m size=131072k "
        "-object {\"qom-type\":\"memory-backend-ram\",\"id\":\"pc.ram\",\"size\":134217728} "
        "-overcommit mem-lock=off -smp 1,sockets=1,dies=1,cores=1,threads=1",
        "memory-backend-ram pc.ram");
}

static void kubevirt_hugepages_file(void)
{
    /* virt-launcher with spec.domain.memory.hugepages: a hugetlbfs directory. */
    int result = parse(
        "/usr/libexec/qemu-kvm -name guest=ns1_vm-huge,debug-threads=on "
        "-machine pc-q35-rhel9.2.0,usb=off,dump-guest-core=off,memory-backend=pc.ram -m size=1048576k "
        "-object {\"qom-type\":\"memory-backend-file\",\"id\":\"pc.ram\",\"mem-path\":\"/dev/hugepages/libvirt/qemu/1-ns1_vm-huge\",\"share\":true,\"prealloc\":true,\"size\":1073741824}");
    CHECK(result == 0, "%s", error);
    const struct qc_backend *b = backend("pc.ram");
    CHECK(b && b->kind == QC_FILE && b->guest_node == 0
              && strcmp(b->mem_path, "/dev/hugepages/libvirt/qemu/1-ns1_vm-huge") == 0, "pc.ram file");
}

static void plain_keyval(void)
{
    int result = parse(
        "qemu-system-x86_64 -accel tcg -m 1536M -smp 2 "
        "--object memory-backend-memfd,id=m0,size=1G,hugetlb=on,hugetlbsize=2M "
        "-object qom-type=memory-backend-file,id=m1,mem-path=/dev/shm/a,,b,share=on,size=512M,prealloc=on "
        "-numa node,cpus=0,memdev=m0 -numa node,cpus=1,memdev=m1 -numa dist,src=0,dst=1,val=20 "
        "-name plainvm,process=qemu-plainvm");
    CHECK(result == 0, "%s", error);
    const struct qc_backend *m0 = backend("m0"), *m1 = backend("m1");
    /* Without nodeid, QEMU numbers the -numa node options in order. */
    CHECK(m0 && m0->guest_node == 0 && m0->hugetlb && m0->size == (1ULL << 30) && m0->share == -1, "m0");
    CHECK(m1 && m1->guest_node == 1 && m1->kind == QC_FILE && strcmp(m1->mem_path, "/dev/shm/a,b") == 0
              && m1->size == 512ULL << 20, "m1: %s", m1 ? m1->mem_path : "missing");
    CHECK(strcmp(vm.guest_name, "plainvm") == 0, "guest name %s", vm.guest_name);
}

static void keyval_host_nodes(void)
{
    int result = parse("qemu-system-x86_64 -object memory-backend-memfd,id=m0,size=64M,host-nodes=0,policy=bind "
                       "-object memory-backend-memfd,id=m1,size=64M,policy=default "
                       "-numa node,nodeid=0,memdev=m0 -numa node,nodeid=1,memdev=m1");
    CHECK(result == 0, "%s", error);
    CHECK(backend("m0")->own_policy && !backend("m1")->own_policy, "own_policy");
}

static void memory_devices_name_their_node(void)
{
    int result = parse(
        "qemu-system-x86_64 -machine q35,memory-backend=m0 -m 1G,slots=2,maxmem=4G "
        "-object memory-backend-memfd,id=m0,size=1G "
        "-object {\"qom-type\":\"memory-backend-memfd\",\"id\":\"memdimm0\",\"size\":536870912} "
        "-device {\"driver\":\"pc-dimm\",\"node\":0,\"memdev\":\"memdimm0\",\"id\":\"dimm0\",\"slot\":0}");
    CHECK(result == 0, "%s", error);
    CHECK(backend("memdimm0") && backend("memdimm0")->guest_node == 0, "memdimm0");
    expect_refused("qemu-system-x86_64 -machine q35,memory-backend=m0 -m 1G "
                   "-object memory-backend-memfd,id=m0,size=1G -object memory-backend-memfd,id=d0,size=1G "
                   "-device pc-dimm,memdev=d0,id=dimm0", "without node=N");
}

static void uncertain_lines_are_refused(void)
{
    expect_refused("qemu-system-x86_64 -m 1G -mem-path /dev/hugepages", "legacy guest RAM");
    expect_refused("qemu-system-x86_64 -m 1G -numa node,mem=512M -numa node,mem=512M", "has no memdev");
    expect_refused("qemu-system-x86_64 -m 1G -smp 2", "anonymous memory");
    expect_refused("qemu-system-x86_64 -readconfig vm.cfg", "only from the command line");
    expect_refused("qemu-system-x86_64 -object memory-backend-memfd,id=m0,size=1G "
                   "-numa node,memdev=m0 -set memory-backend-memfd.m0.size=2G", "only from the command line");
    expect_refused("qemu-system-x86_64 -object memory-backend-file,id=m0,mem-path=/dev/shm/x,size=1G "
                   "-numa node,memdev=m0", "share=off by default");
    expect_refused("qemu-system-x86_64 -object memory-backend-memfd,id=m0,size=1G,share=off "
                   "-numa node,memdev=m0", "mapped privately");
    expect_refused("qemu-system-x86_64 -object memory-backend-memfd,id=m0,size=1G "
                   "-object memory-backend-memfd,id=spare,size=1G -numa node,memdev=m0", "backend spare serves no guest node");
    expect_refused("qemu-system-x86_64 -numa node,memdev=nowhere -m 1G", "memdev nowhere");
    expect_refused("qemu-system-x86_64 -object memory-backend-memfd,id=m0,size=lots -numa node,memdev=m0", "not a size");
    expect_refused("qemu-system-x86_64 -object {\"qom-type\":\"memory-backend-memfd\",\"id\":\"m0\" -numa node,memdev=m0",
                   "cannot read");
}

static void not_a_vm(void)
{
    CHECK(parse("qemu-system-x86_64 --version") == 0 && !vm.is_vm, "--version");
    CHECK(parse("qemu-system-x86_64 -S -no-user-config -nodefaults -nographic -machine none,accel=kvm:tcg "
                "-qmp unix:/var/lib/libvirt/qemu/capabilities.monitor.sock,server=on,wait=off") == 0
              && !vm.is_vm, "libvirt capability probe");
}

static void sizes(void)
{
    unsigned long long bytes;
    CHECK(qc_parse_size("4096", &bytes) == 0 && bytes == 4096, "plain");
    CHECK(qc_parse_size("64M", &bytes) == 0 && bytes == 64ULL << 20, "M");
    CHECK(qc_parse_size("2g", &bytes) == 0 && bytes == 2ULL << 30, "g");
    CHECK(qc_parse_size("1.5G", &bytes) == 0 && bytes == 3ULL << 29, "1.5G");
    CHECK(qc_parse_size("2097152k", &bytes) == 0 && bytes == 2ULL << 30, "k");
    CHECK(qc_parse_size("1.3B", &bytes) < 0, "fraction of a byte");
    CHECK(qc_parse_size("12Q", &bytes) < 0, "suffix");
    CHECK(qc_parse_size("-1", &bytes) < 0, "negative");
    CHECK(qc_parse_size("99999999999E", &bytes) < 0, "overflow");
}

int main(void)
{
    libvirt_numa_memfd();
    libvirt_numatune_memnode_is_own_policy();
    libvirt_without_numa_uses_machine_backend();
    kubevirt_default_ram_is_refused();
    kubevirt_hugepages_file();
    plain_keyval();
    keyval_host_nodes();
    memory_devices_name_their_node();
    uncertain_lines_are_refused();
    not_a_vm();
    sizes();
    if (failures == 0)
        printf("test_qemu_cmdline: all passed\n");
    return failures == 0 ? 0 : 1;
}
