"""How a request ended: the one outcome coding that every part of mbsim uses.

The model settles every *logical* request (an open-loop arrival, retries included) with
one of the six outcomes below, and the recorder counts them in this order. A strategy
(breaker, limiter) is told how each *attempt* it allowed ended, with one of the first
four that apply to an attempt: SUCCESS, REJECTED, TIMEOUT or ERROR.

========  ==========================================================================
SUCCESS   a real answer from the upstream (in time)
FALLBACK  an answer from the ox-horn snapshot (a logical request only)
REJECTED  429 from the server's admission control, or refused with no fallback behind
TIMEOUT   no answer before the client's timeout or the hard deadline
ERROR     an error answer (5xx)
MISS      the deadline passed and the key was not in the snapshot (logical only)
========  ==========================================================================
"""
from __future__ import annotations

import enum


class Outcome(enum.IntEnum):
    SUCCESS = 0
    FALLBACK = 1
    REJECTED = 2
    TIMEOUT = 3
    ERROR = 4
    MISS = 5


SUCCESS, FALLBACK, REJECTED, TIMEOUT, ERROR, MISS = Outcome
OUTCOMES: tuple[str, ...] = tuple(o.name.lower() for o in Outcome)
#: outcomes of an attempt that a breaker counts as failures (a 429 is decided per breaker)
FAILURES = frozenset({Outcome.ERROR, Outcome.TIMEOUT})
