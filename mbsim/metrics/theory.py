"""Closed forms the engine is validated against (rates in 1/s, times in s)."""
from __future__ import annotations

import math


def erlang_c(c: int, lam: float, mu: float) -> float:
    """P(wait > 0) in an M/M/c queue (Erlang C), for offered load lam/mu < c."""
    a = lam / mu
    rho = a / c
    if rho >= 1:
        return 1.0
    top = a ** c / math.factorial(c) / (1 - rho)
    bottom = sum(a ** k / math.factorial(k) for k in range(c)) + top
    return top / bottom


def mmc_wait(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue (s) of an M/M/c queue."""
    return erlang_c(c, lam, mu) / (c * mu - lam)


def mm1_wait(lam: float, mu: float) -> float:
    """Mean wait in queue (s) of an M/M/1 queue: rho / (mu - lam)."""
    return (lam / mu) / (mu - lam)
