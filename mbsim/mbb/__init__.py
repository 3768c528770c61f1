"""The mountain-bike mechanism: what the article proposes, independent of any engine.

``ring`` (the ring with one reserved slot), ``formulas`` (window, capacity, max
concurrency), ``retune`` (the re-tuning that the simulator's buffer and the kernel
controller share: formulas, damping, topology), ``topology`` (the short, medium and long
windows), ``buffer`` (admission), ``breaker`` (the article's count and ratio breakers),
``fallback`` (the horn's deadline), ``settings`` (all of it, as tuning finds it and export
writes it).
"""
