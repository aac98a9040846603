"""poppyscan serving: HTTP API, jobs, and the `poppyscan` command line."""
