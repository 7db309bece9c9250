"""A run of build, test and dev: the pipeline of named steps, the scheduler, the builder, the run's
state.
"""
