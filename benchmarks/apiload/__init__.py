"""Parts of ``benchmarks/api_load.py``, one job per module.

- :mod:`apiload.data`: the surveyed area and the bulk insert of flights, jobs, plots and
  detections; a throwaway PostgreSQL database.
- :mod:`apiload.sql`: each request kind's page and count queries timed on the database alone,
  with their plans.
- :mod:`apiload.server`: the real server subprocess, its accounts, the uploaded flight and
  its scan job's state.
- :mod:`apiload.clients`: the request mix, one client on the idle server, and the
  concurrent clients of the load.
- :mod:`apiload.report`: percentiles, the tables, the notes and the bar.

The entry point puts ``benchmarks/`` on ``sys.path``; nothing here is part of the installed
``poppyscan`` distribution.
"""
