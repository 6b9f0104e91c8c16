// The bpf(2) calls of the in-kernel recorder (`SyscallRecorder`), and the
// consumer side of a BPF ring buffer. glibc has no wrapper for bpf(2).
#define _GNU_SOURCE
#include "CDeveltrace.h"

#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

const uint32_t dt_bpf_map_hash = BPF_MAP_TYPE_HASH;
const uint32_t dt_bpf_map_array = BPF_MAP_TYPE_ARRAY;
const uint32_t dt_bpf_map_percpu_array = BPF_MAP_TYPE_PERCPU_ARRAY;
const uint32_t dt_bpf_map_ringbuf = BPF_MAP_TYPE_RINGBUF;
const int32_t dt_bpf_func_map_lookup_elem = BPF_FUNC_map_lookup_elem;
const int32_t dt_bpf_func_map_update_elem = BPF_FUNC_map_update_elem;
const int32_t dt_bpf_func_map_delete_elem = BPF_FUNC_map_delete_elem;
const int32_t dt_bpf_func_get_current_pid_tgid = BPF_FUNC_get_current_pid_tgid;
const int32_t dt_bpf_func_probe_read_kernel = BPF_FUNC_probe_read_kernel;
const int32_t dt_bpf_func_probe_read_user_str = BPF_FUNC_probe_read_user_str;
const int32_t dt_bpf_func_ringbuf_output = BPF_FUNC_ringbuf_output;
const int32_t dt_bpf_func_probe_read_user = BPF_FUNC_probe_read_user;
const int32_t dt_bpf_func_get_smp_processor_id = BPF_FUNC_get_smp_processor_id;
const int32_t dt_bpf_func_loop = BPF_FUNC_loop;
const int32_t dt_bpf_func_get_ns_current_pid_tgid = BPF_FUNC_get_ns_current_pid_tgid;
const int32_t dt_bpf_func_get_current_task = BPF_FUNC_get_current_task;
const int32_t dt_bpf_func_ktime_get_ns = BPF_FUNC_ktime_get_ns;
const uint32_t dt_bpf_f_no_prealloc = BPF_F_NO_PREALLOC;
const uint64_t dt_bpf_rb_no_wakeup = BPF_RB_NO_WAKEUP;

static long sys_bpf(int command, union bpf_attr *attr) {
    return syscall(SYS_bpf, command, attr, sizeof(*attr));
}

int dt_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags,
                      const char *name) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = type;
    attr.map_flags = flags;
    attr.key_size = key_size;
    attr.value_size = value_size;
    attr.max_entries = max_entries;
    strncpy(attr.map_name, name, sizeof(attr.map_name) - 1);
    return (int)sys_bpf(BPF_MAP_CREATE, &attr);
}

int dt_bpf_btf_load(const void *data, uint32_t size, char *log, uint32_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.btf = (uint64_t)(uintptr_t)data;
    attr.btf_size = size;
    attr.btf_log_buf = (uint64_t)(uintptr_t)log;
    attr.btf_log_size = log ? log_size : 0;
    attr.btf_log_level = log ? 1 : 0;
    return (int)sys_bpf(BPF_BTF_LOAD, &attr);
}

int dt_bpf_prog_load_raw_tracepoint(const void *instructions, uint32_t count, int btf, const void *func_info,
                                    uint32_t func_info_count, char *log, uint32_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
    attr.insns = (uint64_t)(uintptr_t)instructions;
    attr.insn_cnt = count;
    // The probe_read helpers are GPL-only.
    attr.license = (uint64_t)(uintptr_t) "GPL";
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = log ? log_size : 0;
    attr.log_level = log ? 1 : 0;
    if (btf >= 0 && func_info_count > 0) {
        attr.prog_btf_fd = (uint32_t)btf;
        attr.func_info = (uint64_t)(uintptr_t)func_info;
        attr.func_info_cnt = func_info_count;
        attr.func_info_rec_size = sizeof(struct bpf_func_info);
    }
    return (int)sys_bpf(BPF_PROG_LOAD, &attr);
}

int dt_bpf_raw_tracepoint_open(const char *name, int program) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.raw_tracepoint.name = (uint64_t)(uintptr_t)name;
    attr.raw_tracepoint.prog_fd = (uint32_t)program;
    return (int)sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &attr);
}

// One element call: the map, the key, and the value (`next_key` for
// BPF_MAP_GET_NEXT_KEY: the same field of the attribute union) with flags.
static int map_element(int command, int map, const void *key, const void *value, uint64_t flags) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_fd = (uint32_t)map;
    attr.key = (uint64_t)(uintptr_t)key;
    attr.value = (uint64_t)(uintptr_t)value;
    attr.flags = flags;
    return (int)sys_bpf(command, &attr);
}

int dt_bpf_map_update(int map, const void *key, const void *value) {
    return map_element(BPF_MAP_UPDATE_ELEM, map, key, value, BPF_ANY);
}

int dt_bpf_map_delete(int map, const void *key) { return map_element(BPF_MAP_DELETE_ELEM, map, key, NULL, 0); }

int dt_bpf_map_next_key(int map, const void *key, void *next) {
    return map_element(BPF_MAP_GET_NEXT_KEY, map, key, next, 0);
}

int dt_bpf_map_lookup(int map, const void *key, void *value) {
    return map_element(BPF_MAP_LOOKUP_ELEM, map, key, value, 0);
}

// A record: an 8-byte header (length with the busy and discard bits, page
// offset), then the data, the whole rounded up to 8 bytes.
int dt_ringbuf_open(int map, uint32_t size, dt_ringbuf *ring) {
    long page = sysconf(_SC_PAGESIZE);
    memset(ring, 0, sizeof(*ring));
    void *consumer = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, map, 0);
    if (consumer == MAP_FAILED) return -1;
    // The producer page, then the data mapped twice (a record that wraps
    // reads on).
    void *producer = mmap(NULL, (size_t)page + 2 * (size_t)size, PROT_READ, MAP_SHARED, map, page);
    if (producer == MAP_FAILED) {
        int saved = errno;
        munmap(consumer, (size_t)page);
        errno = saved;
        return -1;
    }
    ring->consumer = consumer;
    ring->producer = producer;
    ring->data = (uint8_t *)producer + page;
    ring->mask = (uint64_t)size - 1;
    ring->page = (uint64_t)page;
    ring->size = size;
    return 0;
}

void dt_ringbuf_close(dt_ringbuf *ring) {
    if (ring->consumer) munmap(ring->consumer, (size_t)ring->page);
    if (ring->producer) munmap(ring->producer, (size_t)ring->page + 2 * (size_t)ring->size);
    memset(ring, 0, sizeof(*ring));
}

const void *dt_ringbuf_next(dt_ringbuf *ring, uint32_t *length) {
    uint64_t *consumer_pos = (uint64_t *)ring->consumer;
    uint64_t *producer_pos = (uint64_t *)ring->producer;
    uint64_t consumer = __atomic_load_n(consumer_pos, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t producer = __atomic_load_n(producer_pos, __ATOMIC_ACQUIRE);
        if (consumer >= producer) return NULL;
        const uint8_t *record = ring->data + (consumer & ring->mask);
        uint32_t header = __atomic_load_n((const uint32_t *)record, __ATOMIC_ACQUIRE);
        if (header & BPF_RINGBUF_BUSY_BIT) return NULL;
        uint32_t len = header & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
        if (header & BPF_RINGBUF_DISCARD_BIT) {
            consumer += (len + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
            __atomic_store_n(consumer_pos, consumer, __ATOMIC_RELEASE);
            continue;
        }
        *length = len;
        return record + BPF_RINGBUF_HDR_SZ;
    }
}

void dt_ringbuf_advance(dt_ringbuf *ring, uint32_t length) {
    uint64_t *consumer_pos = (uint64_t *)ring->consumer;
    uint64_t consumer = __atomic_load_n(consumer_pos, __ATOMIC_RELAXED);
    __atomic_store_n(consumer_pos, consumer + ((length + BPF_RINGBUF_HDR_SZ + 7) & ~7u), __ATOMIC_RELEASE);
}
