"""The media proxy benchmark: `make bench` (`python -m bench`).

Starts everything itself in a temporary folder (SQLite database, an object
store, a reference nginx serving that store under DCS's URL layout, the DCS
emulator, gunicorn in streaming and offload modes, the shipped nginx template
in front of the offload one), measures every path side by side in one run and
prints one table, each figure beside the reference it is a ratio to. The table
is also written to bench-results/latest.txt. Not part of `make test`.

Modules: `data` (files and database), `servers` (processes, always stopped),
`load` (the HTTP clients: curl, keep-alive timing, concurrent load),
`report` (the table), `run` (the figures, in order).
"""
