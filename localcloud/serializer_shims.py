"""Make moto's response serializer pay once per response for what it works out per member of a shape."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.core.serialize import AttributePickerContext, ResponseSerializer, XFormedAttributePicker

from localcloud import moto_patches

_UNKNOWN = object()


@contextlib.contextmanager
def member_names_worked_out_once() -> Iterator[None]:
    """moto 5.2.5 serializes a structure by asking, for every member of its shape, which names the member's value
    may go by in the Python object (six alias providers, then botocore's xform_name of each), and works that out
    again for every object of a list: for an execution history of 40 events, each event's ~60 members of
    HistoryEvent, some 2,400 runs of the providers and 8,000 lookups per GetExecutionHistory. For a plain dict the
    names depend only on the member's name, its shape and the shape it belongs to (a dict has no `Meta`, and its
    class name is `dict`), so the serializer of a response (one per response) works them out once per (name,
    shape, parent shape) and looks them up in the dict, the first present winning, as moto's picker does. Any
    other object, a picker of another kind, a response with transformers or a dotted name is served by moto's own
    code: the same value for every member."""
    real = ResponseSerializer.get_value

    def get_value(self, value, key, shape):
        picker = self._value_picker
        if type(value) is not dict or type(picker) is not XFormedAttributePicker or picker.response_transformers:
            return real(self, value, key, shape)
        # The shapes are alive for the whole response (its operation model holds them), so their ids are stable.
        slot = (key, id(shape), id(getattr(shape, "parent", None)))
        known = self.__dict__.setdefault("_local_member_names", {})
        names = known.get(slot, _UNKNOWN)
        if names is _UNKNOWN:
            context = AttributePickerContext(
                obj=value,
                key=key,
                shape=shape,
                operation_model=self.operation_model,
                service_model=self.operation_model.service_model,
                key_path=".".join(self.path),
            )
            names = tuple(picker.get_possible_keys(context))
            # A dotted name is a path into the object: moto's own walk.
            names = known[slot] = None if any("." in name for name in names) else names
        if names is None:
            return real(self, value, key, shape)
        for name in names:
            if name in value:
                return value[name]
        return None

    with moto_patches.replace("moto.core.serialize.ResponseSerializer.get_value", get_value):
        yield
