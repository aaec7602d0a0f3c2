"""Benchmarks of the policy engine: `python -m benchmarks [small|large|huge]`.

Not part of the shipped package. `generate` builds seeded synthetic tailnets, `reference`
is a plain scan-every-rule evaluator to compare against, `child` runs one measurement
in a fresh process (so peak RSS is that measurement's own), `__main__` drives them.
"""
