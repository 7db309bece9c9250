"""`orch lint`: each Dockerfile checked against the multi-stage practice that keeps images
small and safe, knowing which stage ships and what the plan's stages are.

image_rules.py (what ships) and step_rules.py (what single steps do) hold the rules as pure
functions over facts.py's view of a target (shell.py reads RUN steps); ids.py names them (the
plan loader checks `lint: {ignore: [...]}` against it); ignores.py applies the plan's and the
Dockerfile's ignores; formats.py prints findings; hadolint.py merges hadolint's; command.py
reads the files and runs it all.
"""
