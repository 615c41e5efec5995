"""The media proxy benchmark: `make bench` (`python -m bench`).

Starts everything itself in a temporary folder (SQLite database, an object
store, a reference nginx serving that store under DCS's URL layout, the DCS
emulator, moto's S3 server with a second emulator presigning URLs into it,
gunicorn in streaming, offload and presigned modes, the shipped nginx template
in front of the offload one), measures every path side by side in one run and
prints one table, each figure beside the reference it is a ratio to. The table
is also written to bench-results/latest.txt (full runs) and, as Markdown, to
docs/bench-results.md (every run). Not part of `make test`.

Modules, in the order a run uses them:
`config` (the numbers), `data` (files and database), `servers` (processes,
always stopped; the shared helpers live in `local_servers`), `stack` (every
server started and checked, the `Target`s reaching them), `clients` (curl,
keep-alive timing), `load` (concurrent load in forked processes), `figures`
and `figures_load` (one function per figure, returning the plain data of
`results`), `report` (data -> rows, ratios, targets, notes), `table` (text
and Markdown layout), `machine` (the machine, tools and CPU noise), `run`
(arguments, the figures in order, the output files).
"""
