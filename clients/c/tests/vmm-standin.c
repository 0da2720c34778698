/*
 * A VMM stand-in for the guest_memfd path of the preload library: it creates
 * guest memory in QEMU's order for a confidential guest (KVM_CREATE_VM; per
 * backend: memfd "memory-backend-memfd" created, sized, mapped, then
 * KVM_CREATE_GUEST_MEMFD with flags 0 and the same size; then a firmware
 * guest_memfd that follows no backend) and reports what the kernel says.
 *
 * Run as qemu-system-x86_64-standin (the library acts only in QEMU binaries)
 * with QEMU options the library reads, e.g.
 *   qemu-system-x86_64-standin --size-mib 64 -name guest=default_vm1 \
 *     -object memory-backend-memfd,id=m0,size=64M -numa node,nodeid=0,memdev=m0 \
 *     -object memory-backend-memfd,id=m1,size=64M -numa node,nodeid=1,memdev=m1
 * Output, one line per guest_memfd of a backend, then the firmware one:
 *   backend=1 mappable=1 policy=2 nodes=0x2 unevictable_kb_delta=0:12,1:65536
 *   firmware mappable=0
 * policy is the MPOL_* mode read through a fresh mapping right after the
 * ioctl returned; the deltas are per host node after fallocate of the whole
 * guest_memfd (guest_memfd folios are unevictable).
 *
 * With --host-memory (no KVM needed) it is a QEMU up to 5.0 instead, and what
 * such a QEMU may fork: per backend, memfd created, sized, mapped, then
 * mbind(MPOL_DEFAULT) on the mapping (those versions mbind every backend,
 * with MPOL_DEFAULT when it has no host-nodes); then a child forked without
 * exec creates, sizes and maps a memfd of the backends' name. Output:
 *   backend=0 policy=2 nodes=0x1
 *   child sized=1 policy=0
 * policy as above, read after the mbind; the child's "sized" is whether its
 * ftruncate succeeded. Exit 0 when every step ran; the test judges the figures.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KVMIO 0xAE
#define KVM_CREATE_VM _IO(KVMIO, 0x01)
struct kvm_create_guest_memfd {
    uint64_t size;
    uint64_t flags;
    uint64_t reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#define MPOL_F_ADDR 2
#define MAX_NODES 64
#define BACKENDS 2

static void die(const char *what)
{
    fprintf(stderr, "vmm-standin: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Unevictable kB of every host node (index = node), -1 where absent. */
static void unevictable_kb(long kb[MAX_NODES])
{
    for (int node = 0; node < MAX_NODES; node++) {
        char path[80], line[256];
        kb[node] = -1;
        snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof line, f) != NULL) {
            char *field = strstr(line, "Unevictable:");
            if (field != NULL)
                kb[node] = strtol(field + strlen("Unevictable:"), NULL, 10);
        }
        fclose(f);
    }
}

/* The MPOL_* mode of a fresh shared mapping of fd, and its nodes. */
static int fresh_policy(int fd, size_t size, unsigned long *nodes)
{
    void *fresh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fresh == MAP_FAILED)
        return -1;
    int mode = -1;
    if (syscall(SYS_get_mempolicy, &mode, nodes, MAX_NODES, fresh, MPOL_F_ADDR) < 0)
        die("get_mempolicy");
    munmap(fresh, size);
    return mode;
}

/* A backend's host memory as QEMU makes it: memfd created, sized, mapped
 * (and kept mapped, as QEMU keeps it); the mapping's address in *mapped. */
static int backend_memory(size_t size, void **mapped)
{
    int ram = memfd_create("memory-backend-memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (ram < 0)
        die("memfd_create");
    if (ftruncate(ram, (off_t)size) < 0)
        die("ftruncate");
    void *at = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, ram, 0);
    if (at == MAP_FAILED)
        die("mmap backend");
    if (mapped != NULL)
        *mapped = at;
    return ram;
}

static long raw_mbind(void *addr, unsigned long len, int mode, const unsigned long *nodes,
                      unsigned long maxnode, unsigned flags)
{
    return syscall(SYS_mbind, addr, len, mode, nodes, maxnode, flags);
}

static int host_memory(size_t size)
{
    /* QEMU calls libnuma's mbind through the dynamic symbol, which a preload
     * library takes first; without one the system call itself. */
    long (*mbind_symbol)(void *, unsigned long, int, const unsigned long *, unsigned long, unsigned) =
        (long (*)(void *, unsigned long, int, const unsigned long *, unsigned long, unsigned))
            dlsym(RTLD_DEFAULT, "mbind");
    if (mbind_symbol == NULL)
        mbind_symbol = raw_mbind;
    for (int backend = 0; backend < BACKENDS; backend++) {
        void *mapped;
        int ram = backend_memory(size, &mapped);
        if (mbind_symbol(mapped, size, 0 /* MPOL_DEFAULT */, NULL, 0, 0) < 0)
            die("mbind MPOL_DEFAULT");
        unsigned long nodes[MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
        int mode = fresh_policy(ram, size, nodes);
        printf("backend=%d policy=%d nodes=0x%lx\n", backend, mode, nodes[0]);
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        int own = memfd_create("memory-backend-memfd", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (own < 0)
            die("memfd_create in the child");
        int sized = ftruncate(own, (off_t)size) == 0;
        unsigned long nodes[MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
        printf("child sized=%d policy=%d\n", sized, sized ? fresh_policy(own, size, nodes) : -1);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) < 0)
        die("waitpid");
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 2;
}

static int create_guest_memfd(int vm, uint64_t size)
{
    struct kvm_create_guest_memfd request = { .size = size, .flags = 0 };
    return ioctl(vm, KVM_CREATE_GUEST_MEMFD, &request);
}

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "--size-mib") != 0) {
        fprintf(stderr, "usage: qemu-system-x86_64-standin --size-mib N [--host-memory] QEMU-OPTIONS...\n");
        return 2;
    }
    size_t size = strtoul(argv[2], NULL, 10) << 20;
    if (argc > 3 && strcmp(argv[3], "--host-memory") == 0)
        return host_memory(size);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("open /dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");

    for (int backend = 0; backend < BACKENDS; backend++) {
        backend_memory(size, NULL);
        int gmem = create_guest_memfd(vm, size);
        if (gmem < 0)
            die("KVM_CREATE_GUEST_MEMFD");

        unsigned long nodes[MAX_NODES / (8 * sizeof(unsigned long))] = { 0 };
        int mode = fresh_policy(gmem, size, nodes);
        long before[MAX_NODES], after[MAX_NODES];
        unevictable_kb(before);
        /* The path a guest fault takes: touching the mapping would SIGBUS
         * without GUEST_MEMFD_FLAG_INIT_SHARED. */
        /* guest_memfd allocates only with FALLOC_FL_KEEP_SIZE. */
        if (fallocate(gmem, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) < 0)
            die("fallocate guest_memfd");
        unevictable_kb(after);
        printf("backend=%d mappable=%d policy=%d nodes=0x%lx unevictable_kb_delta=", backend,
               mode >= 0, mode, nodes[0]);
        const char *separator = "";
        for (int node = 0; node < MAX_NODES; node++)
            if (before[node] >= 0 && after[node] >= 0) {
                printf("%s%d:%ld", separator, node, after[node] - before[node]);
                separator = ",";
            }
        printf("\n");
    }

    /* Firmware: anonymous host memory, then a guest_memfd that follows no backend. */
    size_t firmware_size = 2 << 20;
    if (mmap(NULL, firmware_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
        die("mmap firmware");
    int firmware = create_guest_memfd(vm, firmware_size);
    if (firmware < 0)
        die("KVM_CREATE_GUEST_MEMFD firmware");
    void *mapped = mmap(NULL, firmware_size, PROT_READ, MAP_SHARED, firmware, 0);
    printf("firmware mappable=%d\n", mapped != MAP_FAILED);
    fflush(stdout);
    return 0;
}
