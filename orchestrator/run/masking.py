"""Secret values out of build output: each one a build prints becomes `***`, as GitHub masks.

orch knows every secret's value (its variable, or its file), so it masks them in each line of
bake's output before anything keeps that line: the job's log, its result (tail, error, failing
step, warnings), and from there the summary, the report, JUnit and GitHub's files. A value is
masked whole and line by line (a multi-line file prints one line at a time); a value shorter
than MIN_LENGTH characters is left as it is: `1`, `yes` or `dev` are in every log.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from orchestrator.plan import Target

MASK = "***"
MIN_LENGTH = 4


def maskable(value: str) -> list[str]:
    """What is masked for one secret value: the value, and each of its lines, without the
    spaces around it; each MIN_LENGTH characters or more."""
    found = [value, *(line.strip() for line in value.splitlines())]
    return [v for v in dict.fromkeys(found) if len(v.strip()) >= MIN_LENGTH]


@dataclass(frozen=True, slots=True)
class Masker:
    """Replaces every occurrence of its values with MASK; no values: text as it is."""

    values: tuple[str, ...] = ()  # longest first

    @classmethod
    def of(cls, secrets: Iterable[str]) -> Masker:
        values = {v for secret in secrets for v in maskable(secret)}
        return cls(tuple(sorted(values, key=lambda v: (-len(v), v))))

    @property
    def single_lines(self) -> tuple[str, ...]:
        """The values with no line break: what a runner's `::add-mask::` can be given."""
        return tuple(v for v in self.values if "\n" not in v and "\r" not in v)

    def __call__(self, text: str) -> str:
        if not self.values or not text:
            return text
        spans: list[tuple[int, int]] = []
        for value in self.values:
            at = text.find(value)
            while at != -1:
                spans.append((at, at + len(value)))
                at = text.find(value, at + 1)
        if not spans:
            return text
        # Overlapping occurrences (of one value or of two) are one masked span: no part of
        # either is left showing between two masks.
        spans.sort()
        merged = [spans[0]]
        for start, end in spans[1:]:
            last_start, last_end = merged[-1]
            if start < last_end:
                merged[-1] = (last_start, max(last_end, end))
            else:
                merged.append((start, end))
        out, pos = [], 0
        for start, end in merged:
            out += [text[pos:start], MASK]
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)

    def lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        return tuple(self(line) for line in lines)


def secret_values(
    targets: Iterable[Target],
    environ: Mapping[str, str],
    absent: Collection[tuple[str, str]] = frozenset(),
) -> list[str]:
    """The values of the secrets of `targets`: each variable's, each file's text (decoded as
    bake's output is); optional ones left out of the run (`absent`) and files that cannot be
    read are skipped (a build cannot read them either)."""
    found: list[str] = []
    for target in targets:
        for s in target.secrets:
            if (target.name, s.id) in absent:
                continue
            if s.env is not None:
                if s.env in environ:
                    found.append(environ[s.env])
            elif s.src is not None:
                try:
                    found.append(s.src.read_bytes().decode("utf-8", "replace"))
                except OSError:
                    continue
    return found
