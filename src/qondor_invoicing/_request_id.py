"""The request id a returned model carries, outside its fields (as openai-python's ``_request_id``).

A model read from a response is stamped, once, where the response becomes the model
(`qondor_invoicing._http.response.stamp`): the id is kept in a slot that is not an attrs
field, so it is not part of ``==``, ``hash``, ``repr``, ``attrs.fields``, ``asdict`` or the
converters' unstructure. A model built by hand, copied, pickled or changed with
``attrs.evolve`` has none (``_request_id`` is then ``None``): it is no longer that response's.
"""

from __future__ import annotations

from typing import Final, TypeVar

__all__ = ["CarriesRequestId", "RequestIdSlot", "carry_request_id", "set_request_id"]

_SLOT: Final = "_qi_request_id"

M = TypeVar("M")


class CarriesRequestId:
    """Gives ``_request_id``; subclasses keep it in a slot (`RequestIdSlot`) or ``__dict__``."""

    __slots__ = ()

    @property
    def _request_id(self) -> str | None:
        """The request id of the response this was read from (``None``: none, or not read).

        Quote it when you ask the API's support about a call (an audit trail keeps it).
        """
        return getattr(self, _SLOT, None)


class RequestIdSlot(CarriesRequestId):
    """Base of the frozen, slotted attrs models a response returns."""

    __slots__ = (_SLOT,)


def set_request_id(obj: M, request_id: str | None) -> M:
    """Stamp ``obj`` (a `CarriesRequestId`) with ``request_id``; return it."""
    if request_id is not None:
        # The models are frozen: their own __setattr__ refuses every attribute.
        object.__setattr__(obj, _SLOT, request_id)
    return obj


def carry_request_id(new: M, old: object) -> M:
    """Give ``new`` (made from ``old`` by ``attrs.evolve``) the request id ``old`` had."""
    return set_request_id(new, getattr(old, _SLOT, None))
