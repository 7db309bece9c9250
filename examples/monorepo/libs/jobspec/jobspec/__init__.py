"""jobspec: the job specification and the spool directory, shared by two services.

The scheduler accepts a job over HTTP, checks it with `parse` and drops it in the spool;
the worker claims it from the spool, checks it again and runs it. Both import this
package, so they cannot disagree on what a valid job is or where a job file goes.
Standard library only.
"""

from jobspec.spec import (
    MAX_RETRIES,
    MAX_TIMEOUT_S,
    JobSpec,
    SpecError,
    dumps,
    loads,
    new_id,
    parse,
    valid_id,
)
from jobspec.spool import STATES, Spool

__all__ = [
    "MAX_RETRIES",
    "MAX_TIMEOUT_S",
    "STATES",
    "JobSpec",
    "SpecError",
    "Spool",
    "dumps",
    "loads",
    "new_id",
    "parse",
    "valid_id",
]
