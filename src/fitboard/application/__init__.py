"""Use cases, grouped by feature, and the ports (typing.Protocol) they need.

Each feature is a package with its own `ports.py`: workouts (the 202 path and the worker's
transaction), boards, achievements, reports, groups (and challenges), accounts, imports,
live and messaging. `ports.py` here holds only what they all share: the failures a port
may raise, the clock, and the shape of a transaction and a store.
"""
