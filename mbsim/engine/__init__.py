"""The engine: the only code that knows SimPy's internals.

``simulate`` (scenario + policy + seed -> Result), ``run`` (build and run the model),
``model`` (the processes and the rare branches), ``request_path`` (the four hot
callbacks), ``request`` (the request and job layouts), ``draws`` (what each request
draws), ``events`` (reusable SimPy events), ``timers`` (FIFO timers).
"""
