"""Dynamic resource orchestration: where each request runs and who gets which radio and compute
share, and the fleet simulator that measures it at 100,000 devices.

Layer 5: builds on ``net`` (channels, links), ``tiny``/``large``/``integrate`` (through the single
adapter :mod:`tinylarge.orchestrate.workload`); ``scenario`` and ``cli`` build on it.
"""
