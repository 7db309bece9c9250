"""The engine: the one place orch talks to Docker (the docker CLI, BuildKit's output, registries,
containers).
"""
