"""Use cases, grouped by feature, and the ports (typing.Protocol) they need.

Each feature is a package with its own `ports.py`: workouts (the 202 path and the worker's
transaction), boards, achievements, reports, groups (and challenges), accounts, imports,
live, messaging and operations. `ports.py` here holds only what they all share: the
failures a port may raise, the clock, and the shape of a transaction and a store.

Each use-case module holds one service class, named for what it does (`Ingest`,
`Boards`, `Groups`...): constructed once, by bootstrap, with the ports it needs; its
methods are the use cases and take only the request's own data. Pure helpers stay
module-level functions.
"""
