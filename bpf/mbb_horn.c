/* The ox-horn: the caller's side of one protected UDP upstream.
 *
 * horn_egress (TC egress of the caller's interface) answers a request locally when the
 * breaker is OPEN, when it carries FALLBACK (the client re-asks after its deadline), or
 * when `capacity` requests are already in flight; it rewrites the request in place into
 * the answer from the snapshot map and redirects it to the interface's ingress.
 * Otherwise it passes the request and records (client address, client port, request id)
 * -> send time in the in-flight map.
 *
 * horn_ingress (TC ingress of the same interface) matches responses to requests,
 * updates the per-CPU window slots and logs decisions to the ring buffer.
 *
 * One source, two builds (mbb_compat.h): BCC at `mbsim apply` time (-DMBB_BCC), and
 * clang into a standalone object for `tc ... bpf da obj mbb_horn.o` (`mbsim export`).
 * Compile-time constants come from mbb_settings.h (`mbsim export`); the upstream, the
 * breaker state, the capacity and the window live in the config map, where the
 * controller (or the exported script) writes them. Until an upstream is written the
 * program matches nothing.
 */
#include "mbb_compat.h"

#define MBB_IP_LEN_RESP (MBB_RESP_FRAME - sizeof(struct ethhdr))             /* 108 */
#define MBB_UDP_LEN_RESP (MBB_RESP_FRAME - sizeof(struct ethhdr) - sizeof(struct iphdr)) /* 88 */
#define MBB_IP_DF 0x4000

/* `mbsim bench bpf` builds the answer path cut short at stage N (1: before the snapshot
 * lookup, 2: before growing the packet, 3: before writing the answer, 4: before the
 * checksums, 5: before the decision, mark and redirect) to see what each stage costs;
 * 0 - every real build - cuts nothing, and the compiler drops the tests. */
#ifndef MBB_BENCH_CUT
#define MBB_BENCH_CUT 0
#endif
#define MBB_CUT_AT(n)              \
    if (MBB_BENCH_CUT == (n))      \
        return TC_ACT_OK;

static __always_inline __u16 fold(__u64 sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return ~sum & 0xffff;
}

/* The one's-complement sum of a 32-bit word as two 16-bit words of memory. */
static __always_inline __u32 sum32(__u32 w)
{
    return (w & 0xffff) + (w >> 16);
}

/* Count a decision (per CPU), and send it to the ring buffer when `always` (the events the
 * controller's breaker needs: responses and timeouts) or when the config asks for every
 * decision (the decision log of `mbsim apply --log-decisions`). */
static __always_inline void decide(struct mbb_config *cfg, struct mbb_flow *f, __u32 key, __u8 decision,
                                   __u8 status, __u32 lat_us, int always, __u64 now)
{
    __u64 *n = decisions_get(decision);
    if (n)
        *n += 1;
    if (!always && !(cfg->flags & MBB_CFG_LOG_DECISIONS))
        return;
    struct mbb_event ev = {};
    ev.ts_ns = now ? now : bpf_ktime_get_ns();
    ev.req_id = mbb_ntohl(f->req_id);
    ev.client_addr = f->addr;
    ev.client_port = mbb_ntohs(f->port);
    ev.key = key;
    ev.cfg_gen = cfg->gen;
    ev.decision = decision;
    ev.status = status;
    ev.latency_us = lat_us;
    events_out(&ev);
}

/* The window slot of time `now` (ns): slots are 2^MBB_SLOT_SHIFT ns long and there are
 * MBB_SLOT_COUNT of them (a power of two): a shift and a mask, no division. */
static __always_inline struct mbb_slot *slot_now(__u64 now)
{
    __u64 epoch = now >> MBB_SLOT_SHIFT;
    struct mbb_slot *s = window_get(epoch & (MBB_SLOT_COUNT - 1));
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
    __u64 *v = counter_get(idx);
    return v ? *v : 0;
}

static __always_inline void count(__u32 idx)
{
    __u64 *v = counter_get(idx);
    if (v)
        __sync_fetch_and_add(v, 1);
}

/* Parse an IPv4/UDP frame of exactly `frame_len` bytes to (or from) the upstream, and
 * fill `f` with the client's side of it. Returns the protocol header, or 0 for anything
 * else (which then passes untouched). */
static __always_inline struct mbb_hdr *parse(struct __sk_buff *skb, __u32 frame_len, int to_upstream,
                                             struct mbb_config *cfg, struct mbb_flow *f)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    if (skb->len != frame_len || data + frame_len > data_end)
        return 0;
    struct ethhdr *eth = data;
    if (eth->h_proto != mbb_htons(ETH_P_IP))
        return 0;
    struct iphdr *ip = data + sizeof(*eth);
    if (ip->version != 4 || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
        return 0;
    if (ip->frag_off & mbb_htons(0x3fff)) /* MF or a fragment offset */
        return 0;
    if (mbb_ntohs(ip->tot_len) != frame_len - sizeof(*eth))
        return 0;
    struct udphdr *udp = (void *)ip + sizeof(*ip);
    if (mbb_ntohs(udp->len) != frame_len - sizeof(*eth) - sizeof(*ip))
        return 0;
    if (to_upstream) {
        if (ip->daddr != cfg->upstream_addr || udp->dest != cfg->upstream_port)
            return 0;
        f->addr = ip->saddr;
        f->port = udp->source;
    } else {
        if (ip->saddr != cfg->upstream_addr || udp->source != cfg->upstream_port)
            return 0;
        f->addr = ip->daddr;
        f->port = udp->dest;
    }
    struct mbb_hdr *h = (void *)udp + sizeof(*udp);
    if (h->magic != mbb_htons(MBB_MAGIC) || h->version != MBB_VERSION)
        return 0;
    f->pad = 0;
    f->req_id = h->req_id;
    return h;
}

/* Rewrite the request in place into the snapshot's answer and send it back up. The
 * checksums are sums of the fields written (the snapshot value's share is precomputed by
 * its loader), so no byte is read twice and no checksum helper runs. */
static __always_inline int answer(struct __sk_buff *skb, struct mbb_config *cfg, struct mbb_flow *f, __u8 decision)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    if (data + MBB_REQ_FRAME > data_end)
        return TC_ACT_OK;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + sizeof(*eth);
    struct udphdr *udp = (void *)ip + sizeof(*ip);
    struct mbb_hdr *req = (void *)udp + sizeof(*udp);

    /* what the answer takes from the request, before the packet changes */
    __u8 client_mac[ETH_ALEN], upstream_mac[ETH_ALEN];
    __builtin_memcpy(client_mac, eth->h_source, ETH_ALEN);
    __builtin_memcpy(upstream_mac, eth->h_dest, ETH_ALEN);
    __be32 client = ip->saddr, upstream = ip->daddr;
    __be16 ip_id = ip->id, cport = udp->source, uport = udp->dest;
    __be32 key_be = req->key;
    __u32 key = mbb_ntohl(key_be);

    MBB_CUT_AT(1)
    struct mbb_value *v = snapshot_get(&key);
    __u8 status = v ? (__u8)v->status : MBB_ST_NOT_FOUND;

    MBB_CUT_AT(2)
    if (bpf_skb_change_tail(skb, MBB_RESP_FRAME, 0))
        return TC_ACT_OK;
    data = (void *)(long)skb->data;
    data_end = (void *)(long)skb->data_end;
    if (data + MBB_RESP_FRAME > data_end)
        return TC_ACT_SHOT; /* grown but not linear: never send a half-written answer */
    eth = data;
    ip = data + sizeof(*eth);
    udp = (void *)ip + sizeof(*ip);
    struct mbb_resp *r = (void *)udp + sizeof(*udp);

    MBB_CUT_AT(3)
    __builtin_memcpy(eth->h_dest, client_mac, ETH_ALEN);
    __builtin_memcpy(eth->h_source, upstream_mac, ETH_ALEN);
    eth->h_proto = mbb_htons(ETH_P_IP);

    ip->version = 4;
    ip->ihl = 5;
    ip->tos = 0;
    ip->tot_len = mbb_htons(MBB_IP_LEN_RESP);
    ip->id = ip_id;
    ip->frag_off = mbb_htons(MBB_IP_DF);
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->saddr = upstream;
    ip->daddr = client;

    udp->source = uport;
    udp->dest = cport;
    udp->len = mbb_htons(MBB_UDP_LEN_RESP);

    r->hdr.magic = mbb_htons(MBB_MAGIC);
    r->hdr.version = MBB_VERSION;
    r->hdr.flags = MBB_F_RESPONSE | MBB_F_FALLBACK;
    r->hdr.req_id = f->req_id;
    r->hdr.key = key_be;
    __u64 *dst = (__u64 *)r->value;
    __u64 tail; /* the status, length and value's share of the UDP checksum */
    if (v) {
        r->status = mbb_htons(v->status);
        r->len = mbb_htons(v->len > MBB_VALUE_SIZE ? MBB_VALUE_SIZE : v->len);
        __u64 *src = (__u64 *)v->value;
#pragma unroll
        for (int i = 0; i < MBB_VALUE_SIZE / 8; i++)
            dst[i] = src[i];
        tail = v->csum;
    } else {
        r->status = mbb_htons(MBB_ST_NOT_FOUND);
        r->len = 0;
#pragma unroll
        for (int i = 0; i < MBB_VALUE_SIZE / 8; i++)
            dst[i] = 0;
        tail = (__u16)mbb_htons(MBB_ST_NOT_FOUND);
    }

    MBB_CUT_AT(4)
    __u64 sum = (__u16)mbb_htons(0x4500) + (__u16)mbb_htons(MBB_IP_LEN_RESP) + (__u16)ip_id +
                (__u16)mbb_htons(MBB_IP_DF) + (__u16)mbb_htons((64 << 8) | IPPROTO_UDP) + sum32(upstream) +
                sum32(client);
    ip->check = fold(sum);
    /* pseudo header, UDP header (checksum 0), the answer's header, then the tail's share */
    sum = tail + sum32(upstream) + sum32(client) + (__u16)mbb_htons(IPPROTO_UDP) +
          2 * (__u16)mbb_htons(MBB_UDP_LEN_RESP) + (__u16)uport + (__u16)cport + (__u16)mbb_htons(MBB_MAGIC) +
          (__u16)mbb_htons((MBB_VERSION << 8) | MBB_F_RESPONSE | MBB_F_FALLBACK) + sum32(f->req_id) + sum32(key_be);
    __u16 check = fold(sum);
    udp->check = check ? check : 0xffff;

    MBB_CUT_AT(5)
    skb->mark = MBB_MARK;
    decide(cfg, f, key, decision, status, 0, 0, 0);
    return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

MBB_PROG(horn_egress)
int horn_egress(struct __sk_buff *skb)
{
    struct mbb_config *cfg = config_get();
    if (!cfg)
        return TC_ACT_OK;
    struct mbb_flow f;
    struct mbb_hdr *h = parse(skb, MBB_REQ_FRAME, 1, cfg, &f);
    if (!h || (h->flags & MBB_F_RESPONSE))
        return TC_ACT_OK;
    __u32 key = mbb_ntohl(h->key);
    __u8 decision = MBB_D_PASS;
    __u64 now = 0; /* precise time: only where a latency is measured */
    if (h->flags & MBB_F_FALLBACK) {
        /* the client gave up on this request: close its in-flight entry as a timeout */
        __u64 *sent = inflight_get(&f);
        if (sent) {
            now = bpf_ktime_get_ns();
            __u64 lat = now - *sent;
            if (inflight_del(&f) == 0) {
                count(MBB_C_DONE);
                decide(cfg, &f, key, MBB_D_TIMEOUT, MBB_ST_ERROR, lat / 1000, 1, now);
            }
        }
        decision = MBB_D_ANSWER_FALLBACK;
    } else if (cfg->state == MBB_OPEN) {
        decision = MBB_D_ANSWER_OPEN;
    } else if (cfg->state == MBB_HALF_OPEN) {
        __u64 *budget = counter_get(MBB_C_PROBES);
        decision = (!budget || (__s64)__sync_fetch_and_add(budget, -1) <= 0) ? MBB_D_ANSWER_OPEN : MBB_D_PROBE;
    }
    __u64 in_flight = 0;
    if (decision == MBB_D_PASS || decision == MBB_D_PROBE) {
        in_flight = counter(MBB_C_PASSED) - counter(MBB_C_DONE) - counter(MBB_C_EXPIRED);
        if ((__s64)in_flight >= (__s64)cfg->capacity)
            decision = MBB_D_ANSWER_CAPACITY;
    }
    if (decision == MBB_D_PASS && cfg->rate_per_slot) {
        /* the watermark loop's rate limit (digest 2.3): at most rate_per_slot requests pass
         * per window slot, over every CPU; a slot's count starts at its first request */
        now = bpf_ktime_get_ns();
        __u64 epoch = now >> MBB_SLOT_SHIFT;
        __u64 *re = counter_get(MBB_C_RATE_EPOCH);
        __u64 *rc = counter_get(MBB_C_RATE_COUNT);
        if (re && rc) {
            if (*re != epoch) {
                *re = epoch;
                *rc = 0;
            }
            if (__sync_fetch_and_add(rc, 1) >= cfg->rate_per_slot)
                decision = (cfg->flags & MBB_CFG_RATE_REFUSE) ? MBB_D_REFUSE_RATE : MBB_D_ANSWER_RATE;
        }
    }
    if (decision == MBB_D_REFUSE_RATE) {
        decide(cfg, &f, key, decision, MBB_ST_ERROR, 0, 0, now);
        return TC_ACT_SHOT;
    }
    if (decision != MBB_D_PASS && decision != MBB_D_PROBE)
        return answer(skb, cfg, &f, decision); /* counted by its decision counter, no clock */

    if (!now)
        now = bpf_ktime_get_ns();
    struct mbb_slot *s = slot_now(now);
    if (s)
        s->requests++;
    __u64 *wm = watermark_get();
    if (wm && in_flight + 1 > *wm)
        *wm = in_flight + 1;
    /* a request whose (client, port, id) is already in flight creates no second entry,
     * so it counts nothing: the in-flight count cannot drift from the map */
    if (inflight_add(&f, &now) == 0)
        count(MBB_C_PASSED);
    decide(cfg, &f, key, decision, MBB_ST_OK, 0, 0, now);
    return TC_ACT_OK;
}

MBB_PROG(horn_ingress)
int horn_ingress(struct __sk_buff *skb)
{
    if (skb->mark == MBB_MARK)
        return TC_ACT_OK; /* our own answer, on its way up */
    struct mbb_config *cfg = config_get();
    if (!cfg)
        return TC_ACT_OK;
    struct mbb_flow f;
    struct mbb_hdr *h = parse(skb, MBB_RESP_FRAME, 0, cfg, &f);
    if (!h || !(h->flags & MBB_F_RESPONSE) || (h->flags & MBB_F_FALLBACK))
        return TC_ACT_OK;
    struct mbb_resp *r = (struct mbb_resp *)h;
    __u64 now = bpf_ktime_get_ns();
    __u32 key = mbb_ntohl(h->key);
    __u8 status = mbb_ntohs(r->status) & 0xff;
    __u64 *sent = inflight_get(&f);
    if (!sent) {
        decide(cfg, &f, key, MBB_D_RESPONSE_STALE, status, 0, 0, now);
        return TC_ACT_OK;
    }
    __u64 lat_us = (now - *sent) / 1000;
    if (inflight_del(&f) != 0)
        return TC_ACT_OK; /* the controller expired it first */
    count(MBB_C_DONE);
    int late = cfg->window_us && lat_us > cfg->window_us;
    struct mbb_slot *s = slot_now(now);
    if (s) {
        s->count++;
        s->sum_us += lat_us;
        s->sumsq_us += lat_us * lat_us;
        if (status != MBB_ST_OK || late)
            s->errors++;
    }
    decide(cfg, &f, key, late ? MBB_D_RESPONSE_LATE : MBB_D_RESPONSE, status, lat_us, 1, now);
    return TC_ACT_OK;
}

MBB_LICENSE
