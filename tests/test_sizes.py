"""Sizes as people write them, budgets, and layers joined to the Dockerfile lines that made them."""

from __future__ import annotations

import pytest

from orchestrator.plan.sizes import (
    Layer,
    change_text,
    join_layers,
    over_budget,
    parse_size,
    size_text,
)


@pytest.mark.parametrize("bad", ["", "big", "10 parsecs", "-3MB", True])
def test_what_is_not_a_size_is_refused(bad):
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


def test_sizes_read_and_print_in_decimal_units():
    assert parse_size("2.5MB") == 2_500_000
    assert size_text(2_500_000) == "2.5 MB"
    assert size_text(999) == "999 B"
    assert change_text(3_400_000, 2_200_000) == "+1.2 MB"
    assert change_text(2_200_000, 3_400_000) == "-1.2 MB"
    assert change_text(5, 5) == "same"
    assert change_text(5, None) == ""


INSTRUCTIONS = [
    (1, "from", "golang AS build"),
    (2, "run", "go build -o /out/app ."),
    (4, "from", "scratch"),
    (5, "copy", "/out/app /app"),
]


def test_layers_are_joined_to_the_dockerfile_line_that_made_them():
    history = [
        (0, 'CMD ["/app"]'),
        (5_000_000, "COPY /out/app /app # buildkit"),
        (1_000, "RUN /bin/sh -c go build -o /out/app . # buildkit"),
        (7, "ADD something-else /x"),
    ]
    layers = join_layers(history, INSTRUCTIONS)
    assert [(layer.created_by, layer.line) for layer in layers] == [
        ('CMD ["/app"]', None),
        ("COPY /out/app /app", 5),
        ("RUN go build -o /out/app .", 2),
        ("ADD something-else /x", None),
    ]


def test_an_image_over_budget_says_its_size_the_budget_and_the_three_largest_layers():
    layers = [Layer(n * 1_000_000, f"RUN step {n}", n) for n in (1, 5, 3, 4)]
    message = over_budget(14_000_000, 10_000_000, layers)
    lines = message.splitlines()
    assert lines[0] == "its image is 14.0 MB, over its max_size of 10.0 MB"
    assert [line.split("line ")[1][0] for line in lines[1:4]] == ["5", "4", "3"]
    assert "raise max_size" in lines[-1]


def test_an_inherited_layer_names_the_dockerfile_and_line_it_came_from():
    from orchestrator.plan.sizes import join_layers

    own = [(1, "from", "base"), (2, "copy", "app.py /app/")]
    base = [(1, "from", "busybox"), (3, "copy", "busybox-amd64 /bin/busybox")]
    runtime = [(1, "from", "base"), (8, "run", "apt-get update && apt-get install -y python3")]
    history = [
        (50, "COPY app.py /app/ # buildkit"),
        (
            4_000,
            "RUN |1 DEBIAN_FRONTEND=noninteractive /bin/sh -c apt-get update && "
            "apt-get install -y python3 # buildkit",
        ),
        (900, "COPY busybox-amd64 /bin/busybox # buildkit"),
        (7, 'CMD ["sh"]'),
    ]
    layers = join_layers(
        history, own, [("stages/runtime/Dockerfile", runtime), ("stages/base/Dockerfile", base)]
    )
    assert [layer.where for layer in layers] == [
        "line 2",
        "stages/runtime/Dockerfile:8",
        "stages/base/Dockerfile:3",
        "",
    ]
    assert layers[1].created_by == "RUN apt-get update && apt-get install -y python3"
