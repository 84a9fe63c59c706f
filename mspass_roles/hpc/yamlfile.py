"""The YAML that HPCClusterLauncher's configuration files use, read with the standard
library (HPC nodes' Python often has no PyYAML): mappings by indentation, `- item` and
`[a, b]` lists, quoted and plain scalars, comments. Anything else is an error naming the
line, never a silent misreading."""

from __future__ import annotations

import re
from typing import Any

_NUMBER = re.compile(r"^[-+]?(\d+|\d*\.\d+([eE][-+]?\d+)?|\d+\.\d*([eE][-+]?\d+)?)$")
#: YAML 1.1's booleans and nulls, as PyYAML's safe_load reads them
_WORDS = {**{w: True for w in ("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON")},
          **{w: False for w in ("false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF")},
          **{w: None for w in ("", "~", "null", "Null", "NULL")}}


class YamlError(ValueError):
    pass


def load(text: str, name: str = "<yaml>") -> dict[str, Any]:
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        body = _strip_comment(raw, name, number).rstrip()
        if not body.strip() or body.strip() in ("---", "..."):
            continue
        indent = len(body) - len(body.lstrip(" "))
        if body[indent:indent + 1] == "\t":
            raise YamlError(f"{name}:{number}: a tab in the indentation (YAML indents with spaces)")
        lines.append((number, indent, body.strip()))
    value, rest = _block(lines, 0, name)
    if rest:
        raise YamlError(f"{name}:{rest[0][0]}: unexpected indentation")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise YamlError(f"{name}: the file is not a mapping of keys to values")
    return value


def _strip_comment(line: str, name: str, number: int) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"" and (i == 0 or line[i - 1] in " :[,-"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    if quote:
        raise YamlError(f"{name}:{number}: unterminated {quote}quoted{quote} string")
    return line


def _block(lines: list, indent: int, name: str):
    """The mapping or list whose lines start at `indent`; (value, lines after it)."""
    if not lines or lines[0][1] < indent:
        return None, lines
    indent = lines[0][1]
    if lines[0][2].startswith("- ") or lines[0][2] == "-":
        items = []
        while lines and lines[0][1] == indent and (lines[0][2].startswith("- ") or lines[0][2] == "-"):
            number, _, text = lines[0]
            item = text[1:].strip()
            if re.match(r"^[^'\"\[][^:]*:(\s|$)", item):
                raise YamlError(f"{name}:{number}: a mapping inside a list item is not supported here")
            items.append(_scalar(item, name, number))
            lines = lines[1:]
        return items, lines
    mapping: dict[str, Any] = {}
    while lines and lines[0][1] == indent:
        number, _, text = lines[0]
        match = re.match(r"^([^'\"\[\]{}:#][^:]*?|'[^']*'|\"[^\"]*\")\s*:(\s+(.*)|$)", text)
        if not match:
            raise YamlError(f"{name}:{number}: expected `key: value`, found {text!r}")
        key = match.group(1).strip("'\"")
        if key in mapping:
            raise YamlError(f"{name}:{number}: {key!r} given twice")
        rest = (match.group(3) or "").strip()
        lines = lines[1:]
        if rest:
            mapping[key] = _scalar(rest, name, number)
        elif lines and lines[0][1] > indent:
            mapping[key], lines = _block(lines, lines[0][1], name)
        else:
            mapping[key] = None
    if lines and lines[0][1] > indent:
        raise YamlError(f"{name}:{lines[0][0]}: unexpected indentation")
    return mapping, lines


def _scalar(text: str, name: str, number: int) -> Any:
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(part.strip(), name, number) for part in inner.split(",")] if inner else []
    if text[:1] in ("{", "&", "*", "!", "|", ">"):
        raise YamlError(f"{name}:{number}: {text!r}: flow mappings, anchors, tags and block scalars are not "
                        "supported here; write the value on one line")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in _WORDS:
        return _WORDS[text]
    if _NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    return text
