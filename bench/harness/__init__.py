"""What every benchmark in bench/ shares, so that none imports another:

- report.py: the run's command, machine and date; percentiles and medians; Markdown tables (a comparison of
  systems with ratios too); the JSON results in bench/results/. Standard library and psutil only, so that
  transport.py's child, which measures thespian alone, may import it.
- systems.py: the systems a benchmark measures, each a process group on private ports and a private data
  dir: `Crucible` (tests/server.py's `Server`, wrapped rather than copied, so benches start servers as the
  integration tests do) and `Script` (a bench server script run as a process: dbos_peer.py,
  floor_server.py); `Run`, the invocation's temp dir, which ends every process started in it.
- clients.py: HTTP create loops with any number of concurrent clients, and waiting for tasks to complete.
"""
