"""ClientOptions and FallbackOptions reject bad values with messages that say how to fix them."""

from __future__ import annotations

import pytest

from hepinfer.client import ClientOptions, FallbackOptions, Mode
from hepinfer.errors import ClientError


def test_defaults_and_normalisation() -> None:
    opts = ClientOptions("m", servers="h:1", outputs=["a"])
    assert opts.servers == ("h:1",)
    assert opts.outputs == ("a",)
    assert opts.mode is Mode.ASYNC


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": ""}, "model is empty"),
        ({"servers": ("nohost",)}, "host:port"),
        ({"servers": ()}, "at least one server"),
        ({"allowed_tries": 0}, "allowed_tries"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"compression": "zstd"}, "compression"),
        ({"batch_size": 0}, "batch_size"),
        ({"health_timeout_s": 0}, "health_timeout_s"),
        ({"pseudo_async_workers": 0}, "pseudo_async_workers"),
    ],
)
def test_bad_options(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"model": "m", **kwargs}
    with pytest.raises(ClientError, match=match):
        ClientOptions(**args)  # type: ignore[arg-type]


def test_fallback_needs_a_repository() -> None:
    with pytest.raises(ClientError, match="repository"):
        FallbackOptions(())
    assert ClientOptions("m", servers=(), fallback=FallbackOptions(("r",))).servers == ()
