"""The side-by-side comparison of policies on one scenario.

``compare`` (replications with common random numbers, intervals, paired verdicts),
``cpu_cost`` (what a policy's own code costs per decision), ``figures``.
"""
