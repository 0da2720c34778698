/* QEMU command-line reading for the preload library: see qemu_cmdline.h. */
#define _POSIX_C_SOURCE 200809L

#include "qemu_cmdline.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUE QC_MAX_PATH
#define MAX_NUMA_NODES 64
#define MAX_DEVICE_MEMDEVS 64

/* One option's properties as key/value text, whichever syntax it used. */
#define MAX_PROPS 64
struct props {
    size_t n;
    char key[MAX_PROPS][64];
    char value[MAX_PROPS][MAX_VALUE];
};

__attribute__((format(printf, 2, 3)))
static int fail(char error[QC_MAX_ERROR], const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(error, QC_MAX_ERROR, fmt, args);
    va_end(args);
    return -1;
}

static int add_prop(struct props *p, const char *key, size_t key_len, const char *value,
                    size_t value_len)
{
    if (p->n == MAX_PROPS || key_len >= sizeof p->key[0] || value_len >= MAX_VALUE)
        return -1;
    memcpy(p->key[p->n], key, key_len);
    p->key[p->n][key_len] = '\0';
    memcpy(p->value[p->n], value, value_len);
    p->value[p->n][value_len] = '\0';
    p->n++;
    return 0;
}

/* The last value given for key (QEMU lets a later one win), or NULL. */
static const char *prop(const struct props *p, const char *key)
{
    for (size_t i = p->n; i-- > 0;)
        if (strcmp(p->key[i], key) == 0)
            return p->value[i];
    return NULL;
}

/* QEMU's keyval syntax: key=value pairs split at ',', ",," for a comma in a
 * value; a first element without '=' is the value of implied_key. */
static int parse_keyval(const char *text, const char *implied_key, struct props *p)
{
    char value[MAX_VALUE];
    const char *cursor = text;
    int first = 1;
    while (*cursor != '\0') {
        const char *element = cursor;
        const char *equals = NULL;
        size_t value_len = 0;
        for (; *cursor != '\0'; cursor++) {
            if (*cursor == ',' && cursor[1] == ',' && equals != NULL) {
                cursor++;
            } else if (*cursor == ',') {
                break;
            } else if (*cursor == '=' && equals == NULL) {
                equals = cursor;
                continue;
            }
            if (equals != NULL) {
                if (value_len + 1 >= sizeof value)
                    return -1;
                value[value_len++] = *cursor;
            }
        }
        size_t element_len = (size_t)(cursor - element);
        if (equals == NULL) {
            if (!first || implied_key == NULL)
                return -1;
            if (add_prop(p, implied_key, strlen(implied_key), element, element_len) < 0)
                return -1;
        } else if (add_prop(p, element, (size_t)(equals - element), value, value_len) < 0) {
            return -1;
        }
        first = 0;
        if (*cursor == ',')
            cursor++;
    }
    return 0;
}

static const char *json_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Reads a JSON string at p (at its opening quote) into out; simple escapes
 * only (QEMU's ids, types and paths). Returns the position after it or NULL. */
static const char *json_string(const char *p, char *out, size_t cap, size_t *len)
{
    size_t used = 0;
    if (*p++ != '"')
        return NULL;
    for (; *p != '"'; p++) {
        char c = *p;
        if (c == '\0')
            return NULL;
        if (c == '\\') {
            switch (*++p) {
            case '"': case '\\': case '/': c = *p; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            default: return NULL;
            }
        }
        if (used + 1 >= cap)
            return NULL;
        out[used++] = c;
    }
    out[used] = '\0';
    *len = used;
    return p + 1;
}

/* Skips a JSON array or object at p, strings included. */
static const char *json_skip_nested(const char *p)
{
    int depth = 0;
    char scratch[MAX_VALUE];
    size_t len;
    do {
        if (*p == '"') {
            if ((p = json_string(p, scratch, sizeof scratch, &len)) == NULL)
                return NULL;
            continue;
        }
        if (*p == '\0')
            return NULL;
        if (*p == '[' || *p == '{')
            depth++;
        else if (*p == ']' || *p == '}')
            depth--;
        p++;
    } while (depth > 0);
    return p;
}

/* A flat JSON object, as libvirt writes -object and -device: strings,
 * numbers and booleans (as "on"/"off") become values; an array or object
 * becomes "[]" or "{}" (only its presence matters here). */
static int parse_json(const char *text, struct props *p)
{
    char key[64], value[MAX_VALUE];
    size_t key_len, value_len;
    const char *cursor = json_space(text);
    if (*cursor++ != '{')
        return -1;
    cursor = json_space(cursor);
    if (*cursor == '}')
        return *json_space(cursor + 1) == '\0' ? 0 : -1;
    for (;;) {
        if ((cursor = json_string(json_space(cursor), key, sizeof key, &key_len)) == NULL)
            return -1;
        cursor = json_space(cursor);
        if (*cursor++ != ':')
            return -1;
        cursor = json_space(cursor);
        if (*cursor == '"') {
            if ((cursor = json_string(cursor, value, sizeof value, &value_len)) == NULL)
                return -1;
        } else if (*cursor == '[' || *cursor == '{') {
            value_len = 2;
            memcpy(value, *cursor == '[' ? "[]" : "{}", 3);
            if ((cursor = json_skip_nested(cursor)) == NULL)
                return -1;
        } else if (strncmp(cursor, "true", 4) == 0 || strncmp(cursor, "false", 5) == 0) {
            int on = *cursor == 't';
            value_len = on ? 2 : 3;
            memcpy(value, on ? "on" : "off", value_len + 1);
            cursor += on ? 4 : 5;
        } else {
            const char *start = cursor;
            while (*cursor == '-' || *cursor == '+' || *cursor == '.' || *cursor == 'e'
                   || *cursor == 'E' || isdigit((unsigned char)*cursor))
                cursor++;
            value_len = (size_t)(cursor - start);
            if (value_len == 0 || value_len >= sizeof value)
                return -1;
            memcpy(value, start, value_len);
            value[value_len] = '\0';
        }
        if (add_prop(p, key, key_len, value, value_len) < 0)
            return -1;
        cursor = json_space(cursor);
        if (*cursor == '}')
            return *json_space(cursor + 1) == '\0' ? 0 : -1;
        if (*cursor++ != ',')
            return -1;
    }
}

static int parse_props(const char *text, const char *implied_key, struct props *p)
{
    p->n = 0;
    return *json_space(text) == '{' ? parse_json(text, p) : parse_keyval(text, implied_key, p);
}

int qc_parse_size(const char *text, unsigned long long *bytes)
{
    char *end;
    if (!isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    unsigned long long whole = strtoull(text, &end, 10);
    if (errno != 0)
        return -1;
    double fraction = 0;
    if (*end == '.') {
        const char *fraction_text = end;
        fraction = strtod(fraction_text, &end);
        if (end == fraction_text + 1)
            return -1;
    }
    static const char suffixes[] = "BKMGTPE";
    unsigned shift = 0;
    if (*end != '\0') {
        const char *found = strchr(suffixes, toupper((unsigned char)*end));
        if (found == NULL || end[1] != '\0')
            return -1;
        shift = 10 * (unsigned)(found - suffixes);
    }
    if (shift >= 64 || whole > (ULLONG_MAX >> shift))
        return -1;
    unsigned long long fraction_bytes = (unsigned long long)(fraction * (double)(1ULL << shift));
    /* QEMU refuses a fraction that is not a whole number of bytes. */
    if ((double)fraction_bytes != fraction * (double)(1ULL << shift))
        return -1;
    *bytes = (whole << shift) + fraction_bytes;
    return 0;
}

static int parse_bool(const char *text)
{
    if (strcmp(text, "on") == 0 || strcmp(text, "true") == 0 || strcmp(text, "yes") == 0
        || strcmp(text, "y") == 0)
        return 1;
    if (strcmp(text, "off") == 0 || strcmp(text, "false") == 0 || strcmp(text, "no") == 0
        || strcmp(text, "n") == 0)
        return 0;
    return -1;
}

static int parse_node(const char *text, int *node)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0 || value >= MAX_NUMA_NODES)
        return -1;
    *node = (int)value;
    return 0;
}

static int add_backend(struct qc_vm *vm, const struct props *p, const char *arg,
                       char error[QC_MAX_ERROR])
{
    const char *type = prop(p, "qom-type");
    const char *id = prop(p, "id");
    if (id == NULL || id[0] == '\0' || strlen(id) >= QC_MAX_ID)
        return fail(error, "-object %s: a memory backend without a usable id", arg);
    if (vm->nbackends == QC_MAX_BACKENDS)
        return fail(error, "more than %d memory backends", QC_MAX_BACKENDS);
    struct qc_backend *b = &vm->backends[vm->nbackends++];
    memset(b, 0, sizeof *b);
    strcpy(b->id, id);
    b->guest_node = -1;
    b->kind = strcmp(type, "memory-backend-memfd") == 0 ? QC_MEMFD
        : strcmp(type, "memory-backend-file") == 0      ? QC_FILE
        : strcmp(type, "memory-backend-ram") == 0       ? QC_RAM
                                                        : QC_OTHER;
    const char *size = prop(p, "size");
    if (size != NULL && qc_parse_size(size, &b->size) < 0)
        return fail(error, "memory backend %s: size '%s' is not a size", id, size);
    const char *share = prop(p, "share");
    b->share = share == NULL ? -1 : parse_bool(share);
    const char *hugetlb = prop(p, "hugetlb");
    b->hugetlb = hugetlb != NULL && parse_bool(hugetlb) == 1;
    const char *policy = prop(p, "policy");
    b->own_policy = prop(p, "host-nodes") != NULL || (policy != NULL && strcmp(policy, "default") != 0);
    const char *mem_path = prop(p, "mem-path");
    if (mem_path != NULL)
        strcpy(b->mem_path, mem_path); /* add_prop bounded it by MAX_VALUE */
    return 0;
}

static struct qc_backend *find_backend(struct qc_vm *vm, const char *id)
{
    for (size_t i = 0; i < vm->nbackends; i++)
        if (strcmp(vm->backends[i].id, id) == 0)
            return &vm->backends[i];
    return NULL;
}

struct memdev_use {
    char memdev[QC_MAX_ID];
    int guest_node;
    const char *by; /* the option that names it, for messages */
};

static int add_use(struct memdev_use *uses, size_t *nuses, const char *memdev, int guest_node,
                   const char *by, char error[QC_MAX_ERROR])
{
    if (*nuses == MAX_NUMA_NODES + MAX_DEVICE_MEMDEVS)
        return fail(error, "too many guest memory devices");
    if (strlen(memdev) >= QC_MAX_ID)
        return fail(error, "%s: memdev '%s' is too long", by, memdev);
    strcpy(uses[*nuses].memdev, memdev);
    uses[*nuses].guest_node = guest_node;
    uses[*nuses].by = by;
    (*nuses)++;
    return 0;
}

static const char *option_name(const char *arg)
{
    /* QEMU takes -opt and --opt alike. */
    return arg[0] == '-' && arg[1] == '-' ? arg + 1 : arg;
}

static int takes_value(const char *option)
{
    static const char *const with_value[] = {
        "-object", "-numa", "-machine", "-M", "-name", "-device", "-m",
        "-mem-path", "-readconfig", "-set",
    };
    for (size_t i = 0; i < sizeof with_value / sizeof with_value[0]; i++)
        if (strcmp(option, with_value[i]) == 0)
            return 1;
    return 0;
}

int qc_parse(int argc, char *const argv[], struct qc_vm *vm, char error[QC_MAX_ERROR])
{
    static struct props p; /* large: not on a small stack; callers are not concurrent */
    struct memdev_use uses[MAX_NUMA_NODES + MAX_DEVICE_MEMDEVS];
    size_t nuses = 0;
    int numa_nodes = 0;
    int machine_none = 0; /* a machine without RAM, as in libvirt's capability probe */
    const char *machine_backend = NULL;
    static char machine_backend_id[QC_MAX_ID];

    memset(vm, 0, sizeof *vm);
    error[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *option = option_name(argv[i]);
        if (!takes_value(option))
            continue;
        if (i + 1 >= argc)
            return fail(error, "%s has no value", argv[i]);
        const char *arg = argv[++i];
        if (strcmp(option, "-readconfig") == 0 || strcmp(option, "-set") == 0)
            return fail(error, "%s %s: the library reads guest memory only from the command line; "
                        "put the memory backends and -numa options there", option, arg);
        if (strcmp(option, "-mem-path") == 0)
            return fail(error, "-mem-path %s: legacy guest RAM has no backend id; use "
                        "-object memory-backend-file,id=ID,mem-path=%s,share=on,size=SIZE "
                        "and -machine memory-backend=ID", arg, arg);
        vm->is_vm = 1;
        if (strcmp(option, "-m") == 0)
            continue;
        const char *implied = strcmp(option, "-object") == 0 ? "qom-type"
            : strcmp(option, "-numa") == 0                   ? "type"
            : strcmp(option, "-name") == 0                   ? "guest"
            : strcmp(option, "-device") == 0                 ? "driver"
                                                             : "type";
        if (parse_props(arg, implied, &p) < 0)
            return fail(error, "%s %s: cannot read this option", option, arg);

        if (strcmp(option, "-object") == 0) {
            const char *type = prop(&p, "qom-type");
            if (type != NULL && strncmp(type, "memory-backend-", 15) == 0
                && add_backend(vm, &p, arg, error) < 0)
                return -1;
        } else if (strcmp(option, "-numa") == 0) {
            const char *type = prop(&p, "type");
            if (type == NULL || strcmp(type, "node") != 0)
                continue;
            const char *nodeid = prop(&p, "nodeid");
            int node = numa_nodes; /* QEMU numbers nodes without nodeid in order */
            if (nodeid != NULL && parse_node(nodeid, &node) < 0)
                return fail(error, "-numa %s: nodeid '%s' is not a guest node number", arg, nodeid);
            numa_nodes++;
            const char *memdev = prop(&p, "memdev");
            if (memdev == NULL)
                return fail(error, "-numa %s: guest node %d has no memdev, so QEMU gives it "
                            "anonymous memory; give it -object memory-backend-memfd and memdev=ID",
                            arg, node);
            if (add_use(uses, &nuses, memdev, node, "-numa", error) < 0)
                return -1;
        } else if (strcmp(option, "-machine") == 0 || strcmp(option, "-M") == 0) {
            const char *type = prop(&p, "type");
            if (type != NULL && strcmp(type, "none") == 0)
                machine_none = 1;
            const char *backend = prop(&p, "memory-backend");
            if (backend != NULL) {
                if (strlen(backend) >= QC_MAX_ID)
                    return fail(error, "%s %s: memory-backend id too long", option, arg);
                strcpy(machine_backend_id, backend);
                machine_backend = machine_backend_id;
            }
        } else if (strcmp(option, "-name") == 0) {
            const char *guest = prop(&p, "guest");
            if (guest != NULL) {
                if (strlen(guest) >= sizeof vm->guest_name)
                    return fail(error, "-name %s: the name is too long", arg);
                strcpy(vm->guest_name, guest);
            }
        } else if (strcmp(option, "-device") == 0) {
            const char *memdev = prop(&p, "memdev");
            if (memdev == NULL)
                continue;
            const char *node_text = prop(&p, "node");
            int node;
            if (node_text == NULL || parse_node(node_text, &node) < 0)
                return fail(error, "-device %s: memory device without node=N; name its guest node",
                            arg);
            if (add_use(uses, &nuses, memdev, node, "-device", error) < 0)
                return -1;
        }
    }

    if (machine_none) {
        vm->is_vm = 0;
        return 0;
    }
    if (numa_nodes == 0 && machine_backend != NULL
        && add_use(uses, &nuses, machine_backend, 0, "-machine memory-backend", error) < 0)
        return -1;
    if (vm->is_vm && numa_nodes == 0 && machine_backend == NULL)
        return fail(error, "guest RAM is QEMU's anonymous memory (no -numa node,memdev= and no "
                    "-machine memory-backend=): nothing to hand to the agent; use "
                    "-object memory-backend-memfd,id=ram0,size=SIZE -machine memory-backend=ram0");
    for (size_t i = 0; i < nuses; i++) {
        struct qc_backend *b = find_backend(vm, uses[i].memdev);
        if (b == NULL)
            return fail(error, "%s names memdev %s, which is no -object memory-backend on the command line",
                        uses[i].by, uses[i].memdev);
        if (b->guest_node >= 0 && b->guest_node != uses[i].guest_node)
            return fail(error, "memory backend %s serves guest nodes %d and %d", b->id,
                        b->guest_node, uses[i].guest_node);
        b->guest_node = uses[i].guest_node;
    }
    for (size_t i = 0; i < vm->nbackends; i++) {
        struct qc_backend *b = &vm->backends[i];
        if (b->guest_node < 0) {
            if (b->kind == QC_MEMFD || b->kind == QC_FILE)
                return fail(error, "memory backend %s serves no guest node the command line names "
                            "(-numa node,memdev=, -machine memory-backend=, -device ...,memdev=,node=): "
                            "cannot tell where its memory belongs", b->id);
            continue;
        }
        if (b->kind == QC_RAM)
            return fail(error, "guest node %d uses memory-backend-ram %s: anonymous memory has no "
                        "descriptor to hand to the agent; use memory-backend-memfd", b->guest_node, b->id);
        if (b->kind == QC_OTHER)
            return fail(error, "guest node %d uses memory backend %s of a type the library does not "
                        "know; use memory-backend-memfd or memory-backend-file", b->guest_node, b->id);
        if (b->share == 0 || (b->kind == QC_FILE && b->share != 1))
            return fail(error, "memory backend %s (guest node %d) is mapped privately (share=off%s): "
                        "its pages are private copies the file's policy does not govern; add share=on",
                        b->id, b->guest_node, b->kind == QC_FILE && b->share < 0 ? " by default" : "");
        if (b->kind == QC_FILE && b->mem_path[0] == '\0')
            return fail(error, "memory backend %s has no mem-path", b->id);
        if (b->size == 0)
            return fail(error, "memory backend %s has no size", b->id);
    }
    return 0;
}
