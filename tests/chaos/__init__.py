"""The chaos suite (issue 17): production mode under load while its processes and servers
are killed and restarted, then the invariant of ../shared/ARCHITECTURE.md checked on the
stores themselves. docs/reliability.md says what it does, how to run it and what it found.
"""
