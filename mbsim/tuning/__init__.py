"""Bayesian tuning of the mountain-bike settings: scenario + objective -> settings.json.

One concept per module: the search space (:mod:`space`), the objective (:mod:`objective`),
evaluating a candidate (:mod:`evaluate`), the samplers behind one interface
(:mod:`backends`), where evaluations run (:mod:`executors`), where they are kept
(:mod:`storage`), and the study loop (:mod:`study`).
"""
