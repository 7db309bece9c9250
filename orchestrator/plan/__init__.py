"""The build plan: `buildplan.yaml` read into typed, frozen targets, every mistake located.

yaml_reader.py reads the YAML into a document.py Document, which knows where every value is
written; schema.py checks its shape; load.py resolves each target (defaults, paths in paths.py,
names and image references in references.py) into the types of model.py.
"""

from orchestrator.plan.load import load_plan
from orchestrator.plan.model import BuilderSpec, Kind, NamedContext, Plan, Secret, Target

__all__ = ["BuilderSpec", "Kind", "NamedContext", "Plan", "Secret", "Target", "load_plan"]
