"""scheduler: the HTTP front of the job queue; workers (services/worker) run the jobs."""
