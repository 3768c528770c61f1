/* An empty TC program: the baseline of `mbsim bench bpf`. */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>

int empty(struct __sk_buff *skb)
{
    return TC_ACT_OK;
}
