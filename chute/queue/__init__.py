"""The durable job queue: jobs, runs and step runs in the catalog database, with leases,
retries and dead letters. All of its SQL lives here."""
