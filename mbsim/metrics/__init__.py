"""What a run measured and how far to trust it.

``recorder`` (collects outcomes; the metric definitions), ``histogram`` (log-bucketed
latencies), ``result`` (one run's result), ``intervals`` (replication, batch-means and
percentile intervals), ``theory`` (closed forms the engine is checked against).
"""
