"""worker: claims jobs from the spool and runs them, with a timeout and retries."""
