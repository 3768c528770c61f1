/* The compatibility layer of the horn: its includes, its maps and one accessor per map, in
 * both dialects the one source (mbb_horn.c) is built in:
 *
 *   - BCC (`mbsim apply`, compiled at run time with -DMBB_BCC): BCC's map macros, and the
 *     `map.lookup()` calls BCC rewrites (it refuses them inside a macro, hence functions);
 *   - clang + libbpf (`mbsim export` builds mbb_horn.o for `tc ... bpf da obj`): BTF maps,
 *     pinned by name, so that `tc` pins them under /sys/fs/bpf/tc/globals/ and bpftool
 *     (or the exported script) can fill them.
 *
 * Map names are the same in both (the controller and the scripts use them).
 */
#ifndef MBB_COMPAT_H
#define MBB_COMPAT_H

#ifdef MBB_BCC
/* BCC force-includes its own bpf.h and helpers; only stable UAPI structs come from headers */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/in.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/pkt_cls.h>
#include <uapi/linux/udp.h>
#define MBB_PROG(name) /* BCC finds functions by name */
#define MBB_LICENSE
#define mbb_htons(x) htons(x)
#define mbb_ntohs(x) ntohs(x)
#define mbb_ntohl(x) ntohl(x)
#else
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#define MBB_PROG(name) SEC("tc/" #name)
#define MBB_LICENSE char LICENSE[] SEC("license") = "GPL";
#define mbb_htons(x) bpf_htons(x)
#define mbb_ntohs(x) bpf_ntohs(x)
#define mbb_ntohl(x) bpf_ntohl(x)
#endif

#include "mbb_proto.h"
#include "mbb_settings.h"

#ifdef MBB_BCC

BPF_ARRAY(mbb_config, struct mbb_config, MBB_CONFIG_SLOTS);
BPF_ARRAY(mbb_counters, u64, MBB_C_COUNT);
BPF_HASH(mbb_inflight, struct mbb_flow, u64, MBB_INFLIGHT_MAX);
BPF_HASH(mbb_snapshot, u32, struct mbb_value, MBB_SNAPSHOT_MAX);
BPF_PERCPU_ARRAY(mbb_window, struct mbb_slot, MBB_SLOT_COUNT);
BPF_PERCPU_ARRAY(mbb_watermark, u64, 1);
BPF_PERCPU_ARRAY(mbb_decisions, u64, MBB_D_COUNT);
BPF_RINGBUF_OUTPUT(mbb_events, MBB_RINGBUF_PAGES);

/* the config slot in force (MBB_C_ACTIVE, bit 0): read once per packet */
static __always_inline struct mbb_config *config_get(void)
{
    __u32 idx = MBB_C_ACTIVE;
    __u64 *active = mbb_counters.lookup(&idx);
    __u32 slot = active ? (__u32)(*(volatile __u64 *)active & 1) : 0;
    return mbb_config.lookup(&slot);
}
static __always_inline __u64 *counter_get(__u32 idx) { return mbb_counters.lookup(&idx); }
static __always_inline __u64 *inflight_get(struct mbb_flow *f) { return mbb_inflight.lookup(f); }
static __always_inline int inflight_add(struct mbb_flow *f, __u64 *t) { return mbb_inflight.insert(f, t); }
static __always_inline int inflight_del(struct mbb_flow *f) { return mbb_inflight.delete(f); }
static __always_inline struct mbb_value *snapshot_get(__u32 *key) { return mbb_snapshot.lookup(key); }
static __always_inline struct mbb_slot *window_get(__u32 idx) { return mbb_window.lookup(&idx); }
static __always_inline __u64 *watermark_get(void)
{
    __u32 zero = 0;
    return mbb_watermark.lookup(&zero);
}
static __always_inline __u64 *decisions_get(__u32 d) { return mbb_decisions.lookup(&d); }
static __always_inline void events_out(struct mbb_event *ev)
{
    /* no wakeup: a wakeup from process context (egress runs inside sendmsg) raises an
     * IPI, several us in a VM; the controller drains the ring every few ms instead */
    mbb_events.ringbuf_output(ev, sizeof(*ev), BPF_RB_NO_WAKEUP);
}

#else /* clang + libbpf */

#define MBB_MAP(name_, type_, key_, value_, max_)       \
    struct {                                           \
        __uint(type, type_);                           \
        __uint(max_entries, max_);                     \
        __type(key, key_);                             \
        __type(value, value_);                         \
        __uint(pinning, LIBBPF_PIN_BY_NAME);           \
    } name_ SEC(".maps")

MBB_MAP(mbb_config, BPF_MAP_TYPE_ARRAY, __u32, struct mbb_config, MBB_CONFIG_SLOTS);
MBB_MAP(mbb_counters, BPF_MAP_TYPE_ARRAY, __u32, __u64, MBB_C_COUNT);
MBB_MAP(mbb_inflight, BPF_MAP_TYPE_HASH, struct mbb_flow, __u64, MBB_INFLIGHT_MAX);
MBB_MAP(mbb_snapshot, BPF_MAP_TYPE_HASH, __u32, struct mbb_value, MBB_SNAPSHOT_MAX);
MBB_MAP(mbb_window, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, struct mbb_slot, MBB_SLOT_COUNT);
MBB_MAP(mbb_watermark, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, __u64, 1);
MBB_MAP(mbb_decisions, BPF_MAP_TYPE_PERCPU_ARRAY, __u32, __u64, MBB_D_COUNT);
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, MBB_RINGBUF_PAGES * 4096);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} mbb_events SEC(".maps");

static __always_inline struct mbb_config *config_get(void)
{
    __u32 idx = MBB_C_ACTIVE;
    __u64 *active = bpf_map_lookup_elem(&mbb_counters, &idx);
    __u32 slot = active ? (__u32)(*(volatile __u64 *)active & 1) : 0;
    return bpf_map_lookup_elem(&mbb_config, &slot);
}
static __always_inline __u64 *counter_get(__u32 idx) { return bpf_map_lookup_elem(&mbb_counters, &idx); }
static __always_inline __u64 *inflight_get(struct mbb_flow *f) { return bpf_map_lookup_elem(&mbb_inflight, f); }
static __always_inline int inflight_add(struct mbb_flow *f, __u64 *t)
{
    return bpf_map_update_elem(&mbb_inflight, f, t, BPF_NOEXIST);
}
static __always_inline int inflight_del(struct mbb_flow *f) { return bpf_map_delete_elem(&mbb_inflight, f); }
static __always_inline struct mbb_value *snapshot_get(__u32 *key) { return bpf_map_lookup_elem(&mbb_snapshot, key); }
static __always_inline struct mbb_slot *window_get(__u32 idx) { return bpf_map_lookup_elem(&mbb_window, &idx); }
static __always_inline __u64 *watermark_get(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&mbb_watermark, &zero);
}
static __always_inline __u64 *decisions_get(__u32 d) { return bpf_map_lookup_elem(&mbb_decisions, &d); }
static __always_inline void events_out(struct mbb_event *ev)
{
    bpf_ringbuf_output(&mbb_events, ev, sizeof(*ev), BPF_RB_NO_WAKEUP);
}

#endif
#endif
