/* The chaos dropper: packet loss and partitions at a receiver's TC ingress.
 *
 * Loss must be injected at the receiver: a drop at the sender's egress is reported back
 * to the sender, which then just retries. This replaces the missing netem qdisc.
 *   - loss: an IPv4 packet (UDP to or from `port`, or any IPv4 packet when port is 0) is
 *     dropped when bpf_get_prandom_u32() < threshold, so 0 never drops;
 *   - partition: every packet, ARP included, is dropped while
 *     partition_start_ns <= now < partition_end_ns (CLOCK_MONOTONIC).
 * The horn's own answers (skb->mark == MBB_MARK) are never dropped. A packet that is not
 * dropped returns TC_ACT_UNSPEC, so the filters after this one (the horn's ingress half)
 * still see it.
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/in.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/pkt_cls.h>
#include <uapi/linux/udp.h>

#include "mbb_proto.h"

struct drop_config {
    __u32 threshold;
    __u16 port;
    __u16 pad;
    __u64 partition_start_ns;
    __u64 partition_end_ns;
};

BPF_ARRAY(drop_config, struct drop_config, 1);
BPF_PERCPU_ARRAY(drop_stats, u64, 2); /* 0: seen, 1: dropped */

static __always_inline int drop(void)
{
    __u32 k = 1;
    u64 *d = drop_stats.lookup(&k);
    if (d)
        *d += 1;
    return TC_ACT_SHOT;
}

int chaos_drop(struct __sk_buff *skb)
{
    if (skb->mark == MBB_MARK)
        return TC_ACT_UNSPEC;
    __u32 zero = 0;
    struct drop_config *cfg = drop_config.lookup(&zero);
    if (!cfg)
        return TC_ACT_UNSPEC;
    __u64 now = bpf_ktime_get_ns();
    if (now >= cfg->partition_start_ns && now < cfg->partition_end_ns) {
        u64 *all = drop_stats.lookup(&zero);
        if (all)
            *all += 1;
        return drop();
    }
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if (data + sizeof(*eth) + sizeof(struct iphdr) > data_end || eth->h_proto != htons(ETH_P_IP))
        return TC_ACT_UNSPEC;
    struct iphdr *ip = data + sizeof(*eth);
    if (cfg->port) {
        if (ip->protocol != IPPROTO_UDP || ip->ihl != 5)
            return TC_ACT_UNSPEC;
        struct udphdr *udp = (void *)ip + sizeof(*ip);
        if ((void *)udp + sizeof(*udp) > data_end)
            return TC_ACT_UNSPEC;
        if (udp->dest != htons(cfg->port) && udp->source != htons(cfg->port))
            return TC_ACT_UNSPEC;
    }
    u64 *seen = drop_stats.lookup(&zero);
    if (seen)
        *seen += 1;
    if (bpf_get_prandom_u32() < cfg->threshold)
        return drop();
    return TC_ACT_UNSPEC;
}
