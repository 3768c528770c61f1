/* The ox-horn: the caller's side of one protected UDP upstream.
 *
 * horn_egress (TC egress of the caller's interface) answers a request locally when the
 * breaker is OPEN, when it carries FALLBACK (the client re-asks after its deadline), or
 * when more than `capacity` requests are in flight; it rewrites the request in place
 * into the response from the snapshot map and redirects it to the interface's ingress.
 * Otherwise it passes the request and records request id -> send time.
 *
 * horn_ingress (TC ingress of the same interface) matches responses to requests,
 * updates the per-CPU window slots and logs decisions to the ring buffer.
 *
 * Compiled by BCC at apply time with -DMBB_UPSTREAM_ADDR (network order u32),
 * -DMBB_UPSTREAM_PORT (host order) and mbb_settings.h from `mbsim export`.
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/in.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/pkt_cls.h>
#include <uapi/linux/udp.h>

#include "mbb_proto.h"
#include "mbb_settings.h"

#ifndef MBB_UPSTREAM_ADDR
#error "MBB_UPSTREAM_ADDR must be defined"
#endif
#ifndef MBB_UPSTREAM_PORT
#error "MBB_UPSTREAM_PORT must be defined"
#endif

struct mbb_frame { /* the answer, built here, then written over the packet */
    __u8 pad[2];   /* puts the IP header on a 4-byte boundary */
    struct ethhdr eth;
    struct iphdr ip;
    struct udphdr udp;
    struct mbb_resp resp;
} __attribute__((packed));

struct pseudo_hdr {
    __be32 saddr;
    __be32 daddr;
    __u8 zero;
    __u8 proto;
    __be16 len;
};

BPF_ARRAY(config, struct mbb_config, 1);
BPF_ARRAY(counters, u64, MBB_C_COUNT);
BPF_HASH(inflight, u32, u64, MBB_INFLIGHT_MAX);
BPF_HASH(snapshot, u32, struct mbb_value, MBB_SNAPSHOT_MAX);
BPF_PERCPU_ARRAY(window, struct mbb_slot, MBB_SLOT_COUNT);
BPF_PERCPU_ARRAY(watermark, u64, 1);
BPF_PERCPU_ARRAY(scratch, struct mbb_frame, 1);
BPF_RINGBUF_OUTPUT(events, MBB_RINGBUF_PAGES);

static __always_inline __u16 fold(__u64 sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return ~sum & 0xffff;
}

static __always_inline void log_event(__u64 now, __u32 id, __u32 key, __u8 decision, __u8 status, __u32 lat_us)
{
    struct mbb_event ev = {};
    ev.ts_ns = now;
    ev.req_id = id;
    ev.key = key;
    ev.upstream_addr = MBB_UPSTREAM_ADDR;
    ev.upstream_port = MBB_UPSTREAM_PORT;
    ev.decision = decision;
    ev.status = status;
    ev.latency_us = lat_us;
    /* no wakeup: a wakeup from process context (egress runs inside sendmsg) raises an
     * IPI, several us in a VM; the controller drains the ring every few ms instead */
    events.ringbuf_output(&ev, sizeof(ev), BPF_RB_NO_WAKEUP);
}

static __always_inline struct mbb_slot *slot_now(__u64 now)
{
    __u64 epoch = now / MBB_SLOT_NS;
    __u32 idx = epoch % MBB_SLOT_COUNT;
    struct mbb_slot *s = window.lookup(&idx);
    if (!s)
        return 0;
    if (s->epoch != epoch) {
        s->epoch = epoch;
        s->requests = 0;
        s->count = 0;
        s->sum_us = 0;
        s->sumsq_us = 0;
        s->errors = 0;
    }
    return s;
}

static __always_inline __u64 counter(__u32 idx)
{
    u64 *v = counters.lookup(&idx);
    return v ? *v : 0;
}

static __always_inline void count(__u32 idx)
{
    u64 *v = counters.lookup(&idx);
    if (v)
        __sync_fetch_and_add(v, 1);
}

/* Parse an IPv4/UDP frame of exactly `frame_len` bytes to or from the upstream.
 * Returns the protocol header, or 0 for anything else (which then passes untouched). */
static __always_inline struct mbb_hdr *parse(struct __sk_buff *skb, __u32 frame_len, int to_upstream)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    if (skb->len != frame_len || data + frame_len > data_end)
        return 0;
    struct ethhdr *eth = data;
    if (eth->h_proto != htons(ETH_P_IP))
        return 0;
    struct iphdr *ip = data + sizeof(*eth);
    if (ip->version != 4 || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
        return 0;
    if (ip->frag_off & htons(0x3fff)) /* MF or a fragment offset */
        return 0;
    if (ntohs(ip->tot_len) != frame_len - sizeof(*eth))
        return 0;
    struct udphdr *udp = (void *)ip + sizeof(*ip);
    if (ntohs(udp->len) != frame_len - sizeof(*eth) - sizeof(*ip))
        return 0;
    if (to_upstream) {
        if (ip->daddr != MBB_UPSTREAM_ADDR || udp->dest != htons(MBB_UPSTREAM_PORT))
            return 0;
    } else {
        if (ip->saddr != MBB_UPSTREAM_ADDR || udp->source != htons(MBB_UPSTREAM_PORT))
            return 0;
    }
    struct mbb_hdr *h = (void *)udp + sizeof(*udp);
    if (h->magic != htons(MBB_MAGIC) || h->version != MBB_VERSION)
        return 0;
    return h;
}

/* Rewrite the request in place into the snapshot's answer and send it back up. */
static __always_inline int answer(struct __sk_buff *skb, __u64 now, __u8 decision)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    if (data + MBB_REQ_FRAME > data_end)
        return TC_ACT_OK;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + sizeof(*eth);
    struct udphdr *udp = (void *)ip + sizeof(*ip);
    struct mbb_hdr *req = (void *)udp + sizeof(*udp);

    __u32 zero = 0;
    struct mbb_frame *f = scratch.lookup(&zero);
    if (!f)
        return TC_ACT_OK;
    __u32 id = ntohl(req->req_id);
    __u32 key = ntohl(req->key);

    __builtin_memcpy(f->eth.h_dest, eth->h_source, ETH_ALEN);
    __builtin_memcpy(f->eth.h_source, eth->h_dest, ETH_ALEN);
    f->eth.h_proto = htons(ETH_P_IP);

    f->ip.version = 4;
    f->ip.ihl = 5;
    f->ip.tos = 0;
    f->ip.tot_len = htons(MBB_RESP_FRAME - sizeof(struct ethhdr));
    f->ip.id = ip->id;
    f->ip.frag_off = htons(0x4000); /* DF */
    f->ip.ttl = 64;
    f->ip.protocol = IPPROTO_UDP;
    f->ip.check = 0;
    f->ip.saddr = ip->daddr;
    f->ip.daddr = ip->saddr;

    f->udp.source = udp->dest;
    f->udp.dest = udp->source;
    f->udp.len = htons(sizeof(struct udphdr) + MBB_RESP_LEN);
    f->udp.check = 0;

    f->resp.hdr.magic = htons(MBB_MAGIC);
    f->resp.hdr.version = MBB_VERSION;
    f->resp.hdr.flags = MBB_F_RESPONSE | MBB_F_FALLBACK;
    f->resp.hdr.req_id = req->req_id;
    f->resp.hdr.key = req->key;

    struct mbb_value *v = snapshot.lookup(&key);
    __u8 status;
    if (v) {
        status = v->status;
        f->resp.status = htons(v->status);
        f->resp.len = htons(v->len > MBB_VALUE_SIZE ? MBB_VALUE_SIZE : v->len);
        __builtin_memcpy(f->resp.value, v->value, MBB_VALUE_SIZE);
    } else {
        status = MBB_ST_NOT_FOUND;
        f->resp.status = htons(MBB_ST_NOT_FOUND);
        f->resp.len = 0;
        __builtin_memset(f->resp.value, 0, MBB_VALUE_SIZE);
    }

    f->ip.check = fold(bpf_csum_diff(0, 0, (__be32 *)&f->ip, sizeof(struct iphdr), 0));
    struct pseudo_hdr ph = {};
    ph.saddr = f->ip.saddr;
    ph.daddr = f->ip.daddr;
    ph.proto = IPPROTO_UDP;
    ph.len = f->udp.len;
    __s64 sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
    if (sum < 0)
        return TC_ACT_OK;
    sum = bpf_csum_diff(0, 0, (__be32 *)&f->udp, sizeof(struct udphdr) + MBB_RESP_LEN, (__u32)sum);
    if (sum < 0)
        return TC_ACT_OK;
    __u16 check = fold(sum);
    f->udp.check = check ? check : 0xffff;

    if (bpf_skb_change_tail(skb, MBB_RESP_FRAME, 0))
        return TC_ACT_OK;
    if (bpf_skb_store_bytes(skb, 0, &f->eth, MBB_RESP_FRAME, 0))
        return TC_ACT_SHOT; /* half-written: never send it on */
    skb->mark = MBB_MARK;
    log_event(now, id, key, decision, status, 0);
    return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

int horn_egress(struct __sk_buff *skb)
{
    struct mbb_hdr *h = parse(skb, MBB_REQ_FRAME, 1);
    if (!h || (h->flags & MBB_F_RESPONSE))
        return TC_ACT_OK;
    __u64 now = bpf_ktime_get_ns();
    __u32 id = ntohl(h->req_id);
    __u32 key = ntohl(h->key);
    __u8 flags = h->flags;
    struct mbb_slot *s = slot_now(now);
    if (s)
        s->requests++;

    if (flags & MBB_F_FALLBACK) {
        /* the client gave up on this id: close its in-flight entry as a timeout */
        u64 *sent = inflight.lookup(&id);
        if (sent) {
            __u64 lat = now - *sent;
            if (inflight.delete(&id) == 0) {
                count(MBB_C_DONE);
                log_event(now, id, key, MBB_D_TIMEOUT, MBB_ST_ERROR, lat / 1000);
            }
        }
        return answer(skb, now, MBB_D_ANSWER_FALLBACK);
    }

    __u32 zero = 0;
    struct mbb_config *cfg = config.lookup(&zero);
    if (!cfg)
        return TC_ACT_OK;
    __u8 decision = MBB_D_PASS;
    if (cfg->state == MBB_OPEN)
        return answer(skb, now, MBB_D_ANSWER_OPEN);
    if (cfg->state == MBB_HALF_OPEN) {
        __u32 p = MBB_C_PROBES;
        u64 *budget = counters.lookup(&p);
        if (!budget || (__s64)__sync_fetch_and_add(budget, -1) <= 0)
            return answer(skb, now, MBB_D_ANSWER_OPEN);
        decision = MBB_D_PROBE;
    }
    __u64 in_flight = counter(MBB_C_PASSED) - counter(MBB_C_DONE) - counter(MBB_C_EXPIRED);
    if ((__s64)in_flight >= (__s64)cfg->capacity)
        return answer(skb, now, MBB_D_ANSWER_CAPACITY);

    u64 *wm = watermark.lookup(&zero);
    if (wm && in_flight + 1 > *wm)
        *wm = in_flight + 1;
    if (inflight.update(&id, &now) == 0)
        count(MBB_C_PASSED);
    log_event(now, id, key, decision, MBB_ST_OK, 0);
    return TC_ACT_OK;
}

int horn_ingress(struct __sk_buff *skb)
{
    if (skb->mark == MBB_MARK)
        return TC_ACT_OK; /* our own answer, on its way up */
    struct mbb_hdr *h = parse(skb, MBB_RESP_FRAME, 0);
    if (!h || !(h->flags & MBB_F_RESPONSE) || (h->flags & MBB_F_FALLBACK))
        return TC_ACT_OK;
    struct mbb_resp *r = (struct mbb_resp *)h;
    __u64 now = bpf_ktime_get_ns();
    __u32 id = ntohl(h->req_id);
    __u32 key = ntohl(h->key);
    __u8 status = ntohs(r->status) & 0xff;
    u64 *sent = inflight.lookup(&id);
    if (!sent) {
        log_event(now, id, key, MBB_D_RESPONSE_STALE, status, 0);
        return TC_ACT_OK;
    }
    __u64 lat_us = (now - *sent) / 1000;
    if (inflight.delete(&id) != 0)
        return TC_ACT_OK; /* the controller expired it first */
    count(MBB_C_DONE);
    __u32 zero = 0;
    struct mbb_config *cfg = config.lookup(&zero);
    int late = cfg && cfg->window_us && lat_us > cfg->window_us;
    struct mbb_slot *s = slot_now(now);
    if (s) {
        s->count++;
        s->sum_us += lat_us;
        s->sumsq_us += lat_us * lat_us;
        if (status != MBB_ST_OK || late)
            s->errors++;
    }
    log_event(now, id, key, late ? MBB_D_RESPONSE_LATE : MBB_D_RESPONSE, status, lat_us);
    return TC_ACT_OK;
}
