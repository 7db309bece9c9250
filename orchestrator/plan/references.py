"""Target names and image references as Docker reads them, each with the nearest valid value.

The grammar is distribution/reference's (`domain[:port]/path[:tag]`), which buildx applies only
when it builds: checked here, a bad name or tag is a plan error instead of an "invalid tag" at
build time.
"""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 128  # a target name is also a file name (logs, cache) and a bake target name
REPOSITORY_MAX = 255  # distribution's limit on a whole repository name
TAG_MAX = 128

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"

# `\Z`, not `$`: the schema searches with Python's re, whose `$` also matches before a final
# newline, and a name "api\n" would pass.
NAME_PATTERN = rf"^{_COMPONENT}\Z"  # for the schema; NAME_MAX is checked beside it
COMPONENT_RULE = "lowercase letters and digits, separated by '.', '_', '__' or dashes"
NAME_RULE = f"{COMPONENT_RULE}, at most {NAME_MAX} characters"

_COMPONENT_RE = re.compile(_COMPONENT)
_DOMAIN_RE = re.compile(_DOMAIN)
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_NOT_COMPONENT_CHAR = re.compile(r"[^a-z0-9._-]+")
_SEPARATORS = re.compile(r"[._-]+")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a target name, or None."""
    if len(name) > NAME_MAX:
        return f"it is {len(name)} characters long, and a name has at most {NAME_MAX}"
    return None if _COMPONENT_RE.fullmatch(name) else f"a name is {NAME_RULE}"


def fixed_name(name: str) -> str:
    """The nearest valid name: lower-cased, separators tidied, cut to NAME_MAX."""
    return _fixed_component(name)[:NAME_MAX].rstrip("._-") or "name"


def registry_problem(registry: str) -> str | None:
    """Why `registry` (host[:port], optionally with a path) cannot prefix an image, or None."""
    if _SCHEME.match(registry):
        return "a registry is written without a scheme"
    host, _, path = registry.rstrip("/").partition("/")
    if not _DOMAIN_RE.fullmatch(host):
        return f"{host!r} is not a host name with an optional :port"
    return _path_problem(path) if path else None


def fixed_registry(registry: str) -> str:
    host, _, path = _SCHEME.sub("", registry).rstrip("/").partition("/")
    fixed = _fixed_domain(host) or "localhost"
    return f"{fixed}/{_fixed_path(path)}" if path else fixed


def repository_problem(repository: str) -> str | None:
    """Why `repository` (`[domain[:port]/]path`, no tag) cannot name an image, or None."""
    if len(repository) > REPOSITORY_MAX:
        return f"it is {len(repository)} characters long; a repository has at most {REPOSITORY_MAX}"
    domain, path = _split_domain(repository)
    if domain is not None and not _DOMAIN_RE.fullmatch(domain):
        return f"{domain!r} is not a host name with an optional :port"
    return _path_problem(path)


def fixed_repository(repository: str) -> str:
    """The nearest valid repository. Fixing the path can make its first part read as a host
    (`/0.0_0/0` becomes `0.0_0/0`), so a fix is fixed again until nothing changes."""
    fixed = _fixed_repository(repository)
    for _ in range(3):
        again = _fixed_repository(fixed)
        if again == fixed:
            break
        fixed = again
    return fixed


def _fixed_repository(repository: str) -> str:
    domain, path = _split_domain(repository)
    if domain is None:
        return _fixed_path(path)
    fixed = _fixed_domain(domain)
    if _split_domain(f"{fixed}/")[0] is None:  # no longer reads as a host: a path part
        return _fixed_path(f"{fixed}/{path}")
    return f"{fixed}/{_fixed_path(path)}"


def tag_problem(tag: str) -> str | None:
    """Why `tag` (the part after the repository's `:`) is not a Docker tag, or None."""
    if len(tag) > TAG_MAX:
        return f"the tag is {len(tag)} characters long; a tag has at most {TAG_MAX}"
    if not _TAG_RE.fullmatch(tag):
        return (
            f"the tag {tag!r} is not letters, digits, '_', '.' and '-', "
            "starting with a letter, digit or '_'"
        )
    return None


def fixed_tag(tag: str) -> str:
    fixed = re.sub(r"[^A-Za-z0-9_.-]+", "-", tag).lstrip(".-")[:TAG_MAX]
    return fixed or "latest"


def reference_problem(reference: str) -> str | None:
    """Why `reference` (`repository[:tag]`) cannot tag an image, or None."""
    if "@" in reference:
        return "a tag cannot pin a digest (@...): bake tags the image it builds"
    repository, tag = split_tag(reference)
    problem = repository_problem(repository)
    if problem is None and tag is not None:
        problem = tag_problem(tag)
    return problem


def fixed_reference(reference: str) -> str:
    repository, tag = split_tag(reference.partition("@")[0])
    fixed = fixed_repository(repository)
    return f"{fixed}:{fixed_tag(tag)}" if tag is not None else fixed


def split_tag(reference: str) -> tuple[str, str | None]:
    """`repository` and `tag` of `repository:tag`; a `:` before the last `/` is a port."""
    colon = reference.rfind(":")
    if colon > reference.rfind("/"):
        return reference[:colon], reference[colon + 1 :]
    return reference, None


def _split_domain(repository: str) -> tuple[str | None, str]:
    # As Docker reads a name: the first part is a registry only if it looks like a host.
    first, slash, rest = repository.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, repository


def _fixed_domain(domain: str) -> str:
    """The nearest host[:port], or "" when nothing of a host name is left."""
    if _DOMAIN_RE.fullmatch(domain):
        return domain
    host, _, port = domain.partition(":")
    labels = (label.strip("-") for label in re.sub(r"[^A-Za-z0-9.-]+", "-", host).split("."))
    fixed = ".".join(label for label in labels if label)
    digits = "".join(c for c in port if c.isdigit())
    return f"{fixed}:{digits}" if fixed and digits else fixed


def _path_problem(path: str) -> str | None:
    for component in path.split("/"):
        if not component:
            return "it has an empty path component (a '/' doubled or at an end)"
        if _COMPONENT_RE.fullmatch(component):
            continue
        if _COMPONENT_RE.fullmatch(component.lower()):
            return f"{component!r} must be lowercase"
        return f"{component!r} is not {COMPONENT_RULE}"
    return None


def _fixed_path(path: str) -> str:
    parts = (_fixed_component(c) for c in path.split("/"))
    return "/".join(p for p in parts if p) or "image"


def _fixed_component(component: str) -> str:
    # Accents come off (`sérvice` becomes `service`); other letters become separators.
    decomposed = unicodedata.normalize("NFKD", component.lower())
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = _NOT_COMPONENT_CHAR.sub("-", text)
    # A run of separators becomes the one it starts with, except the runs Docker allows.
    text = _SEPARATORS.sub(
        lambda m: m[0] if m[0] in (".", "_", "__") or set(m[0]) == {"-"} else m[0][0], text
    )
    return text.strip("._-")
