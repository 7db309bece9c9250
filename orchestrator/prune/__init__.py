"""`orch prune`: the versioned images, run directories, logs and local cache versions that a
plan's builds leave behind, removed past a bound (decide.py: pure; sweep.py: the engine and
files)."""
