/* mbsim wire protocol and shared kernel structs (see PROTOCOL.md). All multi-byte
 * protocol fields are big-endian on the wire. */
#ifndef MBB_PROTO_H
#define MBB_PROTO_H

#define MBB_MAGIC 0x4D42 /* "MB" */
#define MBB_VERSION 1

#define MBB_F_RESPONSE 0x01
#define MBB_F_FALLBACK 0x02

#define MBB_ST_OK 0
#define MBB_ST_ERROR 1
#define MBB_ST_NOT_FOUND 2

#define MBB_VALUE_SIZE 64
#define MBB_REQ_LEN 12                       /* UDP payload of a request */
#define MBB_RESP_LEN (MBB_REQ_LEN + 4 + MBB_VALUE_SIZE) /* 80 */
#define MBB_REQ_FRAME (14 + 20 + 8 + MBB_REQ_LEN)       /* 54 */
#define MBB_RESP_FRAME (14 + 20 + 8 + MBB_RESP_LEN)     /* 122 */

/* skb->mark of the horn's own answers: the ingress half and the dropper skip them */
#define MBB_MARK 0x4D424F58

/* breaker states, as the controller writes them */
#define MBB_CLOSED 0
#define MBB_OPEN 1
#define MBB_HALF_OPEN 2

/* decisions, as logged */
#define MBB_D_PASS 0
#define MBB_D_ANSWER_OPEN 1
#define MBB_D_ANSWER_FALLBACK 2
#define MBB_D_ANSWER_CAPACITY 3
#define MBB_D_PROBE 4
#define MBB_D_RESPONSE 5
#define MBB_D_RESPONSE_LATE 6
#define MBB_D_RESPONSE_STALE 7
#define MBB_D_TIMEOUT 8
#define MBB_D_ANSWER_RATE 9  /* over the watermark loop's rate limit: answered from the snapshot */
#define MBB_D_REFUSE_RATE 10 /* over the rate limit, with MBB_CFG_RATE_REFUSE: dropped */
#define MBB_D_COUNT 11

/* counters (array of u64). The in-flight count is PASSED - DONE - EXPIRED, and it cannot
 * drift from the in-flight map: PASSED counts entries the kernel created (an insert that
 * found the key already there creates nothing and counts nothing), DONE and EXPIRED count
 * entries deleted by the kernel and by the controller (a delete that found nothing counts
 * nothing). */
#define MBB_C_PASSED 0   /* in-flight entries created (requests passed to the upstream) */
#define MBB_C_DONE 1     /* in-flight entries deleted by the kernel */
#define MBB_C_EXPIRED 2  /* in-flight entries deleted by the controller */
#define MBB_C_PROBES 3   /* half-open probes still allowed (controller sets, kernel spends) */
#define MBB_C_ACTIVE 4   /* which of the two config slots is in force (bit 0; controller flips it) */
#define MBB_C_RATE_EPOCH 5 /* the window slot the rate count below belongs to */
#define MBB_C_RATE_COUNT 6 /* requests passed in that slot (the rate limit's count) */
#define MBB_C_COUNT 7

/* The config map holds two slots. The controller writes a new setting into the slot not in
 * force, then flips MBB_C_ACTIVE: one 8-byte store, so a packet sees one setting whole,
 * never half of the old one and half of the new. */
#define MBB_CONFIG_SLOTS 2

struct mbb_hdr {
    __be16 magic;
    __u8 version;
    __u8 flags;
    __be32 req_id;
    __be32 key;
} __attribute__((packed));

struct mbb_resp {
    struct mbb_hdr hdr;
    __be16 status;
    __be16 len;
    __u8 value[MBB_VALUE_SIZE];
} __attribute__((packed));

struct mbb_value { /* snapshot map value, as the loader writes it */
    __u16 status;    /* host order */
    __u16 len;       /* host order, at most MBB_VALUE_SIZE */
    __u32 csum;      /* one's-complement sum (unfolded, host order) of the answer's last 68 payload
                        bytes as they go on the wire: status, length and the zero-padded value */
    __u8 value[MBB_VALUE_SIZE];
};

struct mbb_config { /* written by the controller (or the exported tc script) */
    __u32 state;
    __u32 capacity;          /* max requests in flight */
    __u32 window_us;         /* a response slower than this counts as an error */
    __be32 upstream_addr;    /* the protected upstream, network order; 0 matches nothing */
    __be16 upstream_port;    /* network order */
    __u16 flags;             /* MBB_CFG_LOG_DECISIONS, MBB_CFG_RATE_REFUSE */
    __u32 rate_per_slot;     /* requests passed per window slot; 0: no rate limit */
    __u32 gen;               /* the setting's generation (the controller counts them) */
    __u32 pad;
};

#define MBB_CFG_LOG_DECISIONS 0x1 /* every decision to the ring buffer */
#define MBB_CFG_RATE_REFUSE 0x2   /* over the rate limit: drop (else answer from the snapshot) */

struct mbb_flow { /* in-flight map key: which client asked, and its request id */
    __be32 addr;   /* the client's IPv4 address */
    __be16 port;   /* the client's UDP port */
    __u16 pad;     /* always 0 */
    __be32 req_id;
};

/* per-CPU window slot (8-byte fields for PERCPU_ARRAY): the requests passed to the upstream
 * in it (answers are counted by the per-CPU decision counters instead, with no clock read),
 * and the responses that came back in it */
struct mbb_slot {
    __u64 epoch;
    __u64 requests;
    __u64 count;
    __u64 sum_us;
    __u64 sumsq_us;
    __u64 errors;
};

struct mbb_event { /* ring buffer record, 32 bytes */
    __u64 ts_ns;
    __u32 req_id;
    __u32 client_addr;   /* network order */
    __u16 client_port;   /* host order */
    __u8 decision;
    __u8 status;
    __u32 latency_us;
    __u32 key;
    __u32 cfg_gen;       /* the generation of the setting that made the decision */
};

#endif
