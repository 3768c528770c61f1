"""Benchmarks (``mbsim bench TARGET``): speed is measured here, never in tests.

Every figure is reported beside a baseline measured in the same run: ``sim`` (the
model against a bare SimPy M/M/1), ``bpf`` (the horn against an empty program), ``tune``
(Bayesian optimisation against random search).
"""
