"""`orch dev`: watch a service's inputs, rebuild through the pipeline, run its container."""
