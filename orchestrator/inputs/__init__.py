"""What a version is made of: build contexts, ignore files, git, base images, and what a change
affects.
"""
