"""How raw config values (JSON, TOML, `--set` text) are checked against a config dataclass's types.

JSON and TOML already give numbers, booleans, strings and lists; what they do not do is hold a
value to its field's type, so `"second_order": "false"` would be a true string and `"steps": 1.5`
a step count. `check_types` refuses both, naming the key; `parse_like` reads `--set` text as the
type of the value it replaces. Pure data: must not import torch, sim or any runtime module.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from daml.errors import ConfigError


def check_types(section: str, cls: type, values: dict[str, Any]) -> None:
    """ConfigError naming `section.key` for the first value whose type its field does not take.

    Field types are read from the dataclass's annotations: bool, int (not a bool or a float),
    float (an int is fine), str, unions of these with `|`, and None. Any other annotation (lists:
    each section checks its own, item by item) is not checked here.
    """
    annotations = {f.name: f.type for f in fields(cls)}
    for key, value in values.items():
        annotation = annotations.get(key)
        if not isinstance(annotation, str):
            continue
        accepted = [_accepts(part.strip(), value) for part in annotation.split("|")]
        if any(result is None for result in accepted) or any(accepted):
            continue
        expected = " or ".join(_describe(part.strip()) for part in annotation.split("|"))
        raise ConfigError(f"{section}.{key} must be {expected}, got {json.dumps(value)}")


def _accepts(annotation: str, value: Any) -> bool | None:
    """Whether `value` fits one annotation; None when the annotation is not one checked here."""
    if annotation == "None":
        return value is None
    if annotation == "bool":
        return isinstance(value, bool)
    if annotation == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation == "str":
        return isinstance(value, str)
    return None


def _describe(annotation: str) -> str:
    if annotation == "None":
        return "null"
    return {"bool": "true or false", "int": "an integer", "float": "a number"}.get(
        annotation, "a string"
    )


def parse_like(current: Any, text: str, what: str) -> Any:
    """`text` read as the type of `current` (a config field's value), or ConfigError."""
    if isinstance(current, bool):
        if text.lower() not in ("true", "false"):
            raise ConfigError(f"{what}: expected true or false, got {text!r}")
        return text.lower() == "true"
    if isinstance(current, list | tuple):
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as error:
                raise ConfigError(f"{what}: {text!r} is not a JSON list: {error}") from error
        return [_number(part.strip(), what) for part in text.split(",")] if text else []
    if isinstance(current, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{what}: expected an integer, got {text!r}") from None
    if isinstance(current, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{what}: expected a number, got {text!r}") from None
    return text


def _number(text: str, what: str) -> float | int:
    """A list element: an int where it reads as one (`_ints` fields), else a float."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what}: expected a number, got {text!r}") from None
