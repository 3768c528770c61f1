"""Online tuning: a real Prometheus reads the running controller, a safe Bayesian loop
proposes settings, and the controller hot-loads them (``mbsim tune --online``)."""
