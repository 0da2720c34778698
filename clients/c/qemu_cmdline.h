/*
 * What a QEMU command line says about guest RAM: which memory backend serves
 * which guest NUMA node, and the VM's name. Used by the preload library
 * (numaguest_preload.c) on /proc/self/cmdline; no I/O, no globals.
 *
 * Understands -object and -device in keyval and JSON syntax, -numa node,
 * -machine/-M memory-backend=, -name. Anything that would make the mapping
 * uncertain (legacy -mem-path or -numa node,mem=, -readconfig, -set, a
 * backend no guest node names, anonymous memory-backend-ram for a guest node)
 * is an error naming the problem: the caller must not guess.
 */
#ifndef QEMU_CMDLINE_H
#define QEMU_CMDLINE_H

#include <stddef.h>

#define QC_MAX_BACKENDS 64
#define QC_MAX_ID 128
#define QC_MAX_PATH 4096
#define QC_MAX_ERROR 512

enum qc_backend_kind {
    QC_MEMFD, /* memory-backend-memfd */
    QC_FILE,  /* memory-backend-file */
    QC_RAM,   /* memory-backend-ram: anonymous, no descriptor */
    QC_OTHER, /* any other memory-backend-* type */
};

struct qc_backend {
    char id[QC_MAX_ID];
    enum qc_backend_kind kind;
    unsigned long long size; /* bytes; 0 when the command line gives none */
    int guest_node;          /* -1 when no guest node names this backend */
    int share;               /* -1 not given (QEMU's default), 0 off, 1 on */
    int hugetlb;             /* memfd hugetlb=on */
    int own_policy;          /* host-nodes, or a policy other than default */
    char mem_path[QC_MAX_PATH]; /* memory-backend-file mem-path */
};

struct qc_vm {
    struct qc_backend backends[QC_MAX_BACKENDS];
    size_t nbackends;
    int is_vm;          /* has -m, -machine/-M, -numa or -object, and a machine other than none */
    char guest_name[256]; /* -name guest=NAME or -name NAME; "" when absent */
};

/*
 * Parses argv[0..argc) into vm. Returns 0, or -1 with a one-sentence reason
 * in error (what is wrong and what to use instead). On success every
 * memory-backend-memfd and memory-backend-file has a guest node; share is
 * never off for those.
 */
int qc_parse(int argc, char *const argv[], struct qc_vm *vm, char error[QC_MAX_ERROR]);

/* Parses a QEMU size ("64M", "1G", "1.5G", "4096"; suffixes B K M G T P E,
 * either case). Returns 0 or -1. */
int qc_parse_size(const char *text, unsigned long long *bytes);

#endif
