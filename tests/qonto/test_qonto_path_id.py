"""`path_id`'s shortcut for plain ids gives what its checks and escaping give."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qondor_invoicing import InvalidInputError
from qondor_invoicing.qonto.filters import path_id

_REFUSED = re.compile(r"[\s\x00-\x1f\x7f/\\?#]|\.\.")


@given(
    st.one_of(
        st.from_regex(r"[A-Za-z0-9_-]+", fullmatch=True),
        st.text(st.sampled_from("aZ09-_.~/\\?#% :\t\n\x00\u00e9"), max_size=6),
    )
)
def test_path_id_escapes_or_refuses(value: str) -> None:
    if not value or value == "." or _REFUSED.search(value):
        with pytest.raises(InvalidInputError):
            path_id(value)
    else:
        assert path_id(value) == quote(value, safe="")
