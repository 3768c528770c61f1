"""The simulated world: everything a scenario holds, whatever the policy.

``scenario`` (the whole), ``catalog`` (built-in scenarios), ``workload`` (open-loop
arrivals, tail spikes), ``service`` (workers, service times), ``load_function`` (the
article's torque), ``sensor`` (the load it reads), ``client`` (timeouts, retries),
``network`` (RTT, loss), ``faults`` (outages, partitions, delay spikes, per-request
faults; the ground truth), ``snapshot`` (what the fallback can answer), ``slo``.
"""
