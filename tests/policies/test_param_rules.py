"""Every documented parameter rule of the peers, the breaker and the caller, at its edge:
the first value outside gives exactly the rule's message, the edge itself is allowed."""
import pytest

from mbsim.errors import ConfigError
from mbsim.mbb.breaker import BreakerSettings
from mbsim.mbb.buffer import BufferSettings
from mbsim.policies.envoy import EnvoyParams
from mbsim.policies.gradient2 import Gradient2Params
from mbsim.policies.hystrix import HystrixParams
from mbsim.policies.parts import CallerOptions
from mbsim.policies.resilience4j import Resilience4jParams
from mbsim.policies.sre import SreParams
from mbsim.policies.vegas import VegasParams

H, R, E, G, V, S, B, C, U = (HystrixParams, Resilience4jParams, EnvoyParams, Gradient2Params, VegasParams,
                             SreParams, BreakerSettings, CallerOptions, BufferSettings)
TINY = 1e-6

# (class, the first values outside the rule, its exact message)
BAD = [
    (H, {"execution_timeout_ms": 0.0}, "execution_timeout_ms must be positive"),
    (H, {"request_volume_threshold": 0}, "request_volume_threshold must be >= 1"),
    (H, {"error_threshold_percentage": 0.0}, "error_threshold_percentage must be in (0, 100]"),
    (H, {"error_threshold_percentage": 100 + TINY}, "error_threshold_percentage must be in (0, 100]"),
    (H, {"sleep_window_ms": 0.0}, "windows must be positive"),
    (H, {"rolling_stats_ms": 0.0}, "windows must be positive"),
    (H, {"rolling_stats_buckets": 0}, "rolling_stats_buckets must be >= 1"),
    (H, {"core_size": 0}, "core_size must be >= 1"),
    (H, {"max_queue_size": -2}, "max_queue_size must be -1 (no queue) or more"),
    (R, {"sliding_window_size": 0}, "sliding_window_size must be >= 1"),
    (R, {"minimum_number_of_calls": 0}, "minimum_number_of_calls must be >= 1"),
    (R, {"failure_rate_threshold": 0.0}, "failure_rate_threshold must be in (0, 100]"),
    (R, {"failure_rate_threshold": 100 + TINY}, "failure_rate_threshold must be in (0, 100]"),
    (R, {"slow_call_rate_threshold": 0.0}, "slow_call_rate_threshold must be in (0, 100]"),
    (R, {"slow_call_rate_threshold": 100 + TINY}, "slow_call_rate_threshold must be in (0, 100]"),
    (R, {"permitted_number_of_calls_in_half_open_state": 0}, "half-open calls must be >= 1"),
    (R, {"wait_duration_in_open_state_ms": 0.0}, "wait_duration_in_open_state_ms must be positive"),
    (R, {"backoff_multiplier": 1 - TINY}, "backoff_multiplier must be >= 1"),
    (R, {"max_concurrent_calls": 0}, "max_concurrent_calls must be >= 1"),
    (R, {"max_wait_duration_ms": TINY}, "max_wait_duration_ms > 0 (a waiting bulkhead) is not modelled"),
    (R, {"timeout_duration_ms": 0.0}, "timeout_duration_ms must be positive"),
    (E, {"sample_aggregate_percentile": 0.0}, "sample_aggregate_percentile must be in (0, 100]"),
    (E, {"sample_aggregate_percentile": 100 + TINY}, "sample_aggregate_percentile must be in (0, 100]"),
    (E, {"min_concurrency": 0}, "need 1 <= min_concurrency <= max"),
    (E, {"min_concurrency": 11, "max_concurrency_limit": 10}, "need 1 <= min_concurrency <= max"),
    (E, {"concurrency_update_interval_ms": 0.0}, "intervals must be positive"),
    (E, {"min_rtt_interval_ms": 0.0}, "intervals must be positive"),
    (E, {"request_count": 0}, "request_count must be >= 1"),
    (E, {"jitter_percent": -TINY}, "jitter and buffer must be >= 0"),
    (E, {"buffer_percent": -TINY}, "jitter and buffer must be >= 0"),
    (G, {"min_limit": 0, "initial_limit": 1}, "need 1 <= min_limit <= max_concurrency"),
    (G, {"min_limit": 201, "max_concurrency": 200}, "need 1 <= min_limit <= max_concurrency"),
    (G, {"initial_limit": 0}, "initial_limit must be >= 1"),
    (G, {"smoothing": 0.0}, "smoothing must be in (0, 1]"),
    (G, {"smoothing": 1 + TINY}, "smoothing must be in (0, 1]"),
    (G, {"long_window": 0}, "long_window must be >= 1"),
    (V, {"initial_limit": 0}, "need 1 <= initial_limit <= max_concurrency"),
    (V, {"initial_limit": 11, "max_concurrency": 10}, "need 1 <= initial_limit <= max_concurrency"),
    (V, {"smoothing": 0.0}, "smoothing must be in (0, 1]"),
    (V, {"smoothing": 1 + TINY}, "smoothing must be in (0, 1]"),
    (V, {"probe_multiplier": 0}, "probe_multiplier must be >= 1"),
    (S, {"k": 1 - TINY}, "k must be >= 1"),
    (S, {"window_s": 0.0}, "window_s must be positive and buckets >= 1"),
    (S, {"buckets": 0}, "window_s must be positive and buckets >= 1"),
    (B, {"failure_threshold": 0}, "breaker.failure_threshold must be >= 1"),
    (B, {"failure_ratio": 0.0}, "breaker.failure_ratio must be in (0, 1]"),
    (B, {"failure_ratio": 1 + TINY}, "breaker.failure_ratio must be in (0, 1]"),
    (B, {"window_ms": 0.0}, "breaker.window_ms must be positive"),
    (B, {"min_calls": 0}, "breaker.min_calls must be >= 1"),
    (B, {"open_ms": 0.0}, "breaker.open_ms must be positive"),
    (B, {"probes": 0}, "breaker.probes must be >= 1"),
    (C, {"timeout_ms": -TINY}, "caller.timeout_ms must be >= 0"),
    (C, {"pool_threads": -1}, "caller pool sizes must be >= 0"),
    (C, {"pool_queue": -1}, "caller pool sizes must be >= 0"),
    (U, {"window_min_ms": 200 + TINY}, "buffer.window_min_ms (200) > window_max_ms (200)"),
    (U, {"capacity_min": 1, "capacity_max": 1}, "buffer.capacity_min must be >= 2 (one slot is reserved)"),
    (U, {"capacity_min": 257}, "buffer.capacity_min (257) > capacity_max (256)"),
    (U, {"concurrency_k": 0.0}, "buffer.concurrency_k must be positive"),
]

# the edges themselves, which every rule above allows
EDGES = [
    (H, {"execution_timeout_ms": TINY, "request_volume_threshold": 1, "error_threshold_percentage": 100.0,
         "sleep_window_ms": TINY, "rolling_stats_ms": TINY, "rolling_stats_buckets": 1, "core_size": 1,
         "max_queue_size": -1}),
    (H, {"error_threshold_percentage": TINY}),
    (R, {"sliding_window_size": 1, "minimum_number_of_calls": 1, "failure_rate_threshold": 100.0,
         "slow_call_rate_threshold": 100.0, "permitted_number_of_calls_in_half_open_state": 1,
         "wait_duration_in_open_state_ms": TINY, "backoff_multiplier": 1.0, "max_concurrent_calls": 1,
         "max_wait_duration_ms": 0.0, "timeout_duration_ms": TINY}),
    (R, {"failure_rate_threshold": TINY, "slow_call_rate_threshold": TINY}),
    (E, {"sample_aggregate_percentile": 100.0, "min_concurrency": 1, "max_concurrency_limit": 1,
         "concurrency_update_interval_ms": TINY, "min_rtt_interval_ms": TINY, "request_count": 1,
         "jitter_percent": 0.0, "buffer_percent": 0.0}),
    (E, {"sample_aggregate_percentile": TINY, "min_concurrency": 7, "max_concurrency_limit": 7}),
    (G, {"min_limit": 1, "initial_limit": 1, "smoothing": 1.0, "long_window": 1}),
    (G, {"min_limit": 200, "max_concurrency": 200, "smoothing": TINY}),
    (V, {"initial_limit": 1, "smoothing": 1.0, "probe_multiplier": 1}),
    (V, {"initial_limit": 10, "max_concurrency": 10, "smoothing": TINY}),
    (S, {"k": 1.0, "window_s": TINY, "buckets": 1}),
    (B, {"failure_threshold": 1, "failure_ratio": 1.0, "window_ms": TINY, "buckets": 1, "min_calls": 1,
         "open_ms": TINY, "probes": 1}),
    (B, {"failure_ratio": TINY}),
    (C, {"timeout_ms": 0.0, "pool_threads": 0, "pool_queue": 0}),
    (U, {"window_min_ms": 200.0, "capacity_min": 2, "capacity_max": 2, "concurrency_k": TINY,
         "concurrency_floor": 1.0, "stddev_scale_ms": TINY, "rps_scale": TINY, "adjust_s": 0.001,
         "concurrency_window_s": 0.001}),
    (U, {"capacity_min": 256}),
]


@pytest.mark.parametrize("cls, values, message", BAD,
                         ids=[f"{c.__name__}-{'-'.join(v)}-{i}" for i, (c, v, _m) in enumerate(BAD)])  # type: ignore[arg-type]  # a fake or a deliberately wrong input
def test_the_first_value_outside_a_rule_gives_its_message(cls, values, message):
    with pytest.raises(ConfigError) as e:
        cls(**values)
    assert str(e.value) == message


@pytest.mark.parametrize("cls, values", EDGES, ids=[f"{c.__name__}-{i}" for i, (c, _v) in enumerate(EDGES)])
def test_the_edges_are_allowed(cls, values):
    p = cls(**values)
    assert all(getattr(p, k) == v for k, v in values.items())
