"""Condition operators of IAM policies and their evaluation against a request's condition keys (pure).

One ``Condition`` is one operator applied to one key with one or more policy values, e.g.
``{"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}``. The semantics are AWS's
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):

- several policy values for one key are ORed; a negated operator (``StringNotEquals``, ``NotIpAddress``,
  ``ArnNotLike``, ...) is true when the request value matches none of them;
- a key missing from the request makes a positive operator false and a negated one true;
  ``...IfExists`` makes any operator true when the key is missing; ``Null`` tests presence;
- ``ForAnyValue:`` is true when at least one request value matches (false for a missing key);
  ``ForAllValues:`` is true when every request value matches (true for a missing key or an empty set);
- condition key names are case-insensitive (the request's names are lower-cased); string values are
  case-sensitive except for the ``...IgnoreCase`` operators and ``Bool``.

Policy variables (``${aws:username}``, ``${aws:username, 'default'}``) and the escapes ``${*}``, ``${?}``,
``${$}`` are expanded in the values of String* and Arn* operators (policy version 2012-10-17 only); a variable
with no value in the request and no default makes that value match nothing.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache


class PolicyError(ValueError):
    """A malformed policy document; the message names what is wrong (policy.py re-exports it)."""


# --- wildcard patterns with policy variables -------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'((?:[^']|'')*)'\s*$")    # ${key, 'default'}; '' is a quote
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


class _Unresolved(Exception):
    """A policy variable with no value in the request and no default."""


def lookup_variable(name: str, variables: Mapping[str, str], conditions: Mapping[str, Sequence[str]]) -> str | None:
    """The value of ``${name}``: from ``variables``, else a single-valued condition key (names lower-cased)."""
    key = name.strip().lower()
    if key in variables:
        return variables[key]
    values = conditions.get(key)
    if values is not None and len(values) == 1:
        return values[0]
    return None


def check_variables(text: str) -> None:
    """Raise PolicyError for a ``${...}`` that is neither an escape nor ``prefix:name[, 'default']``."""
    for match in _VARIABLE.finditer(text):
        body = match.group(1)
        if body in _ESCAPES:
            continue
        default = _DEFAULT.match(body)
        name = default.group(1) if default else body.strip()
        if not re.fullmatch(r"[A-Za-z0-9_.-]+:[A-Za-z0-9_./-]+", name):
            raise PolicyError(f"invalid policy variable ${{{body}}}")


_STAR, _ONE = "**", "??"     # wildcard tokens; every other token is one literal character


def _tokens(pattern: str, variables: Mapping[str, str], conditions: Mapping[str, Sequence[str]],
            expand: bool) -> list[str]:
    """``pattern`` as tokens: ``*`` / ``?`` wildcards, everything else (variables' values, escapes) literal."""
    if not expand or "${" not in pattern:
        return list(_plain_tokens(pattern))
    out: list[str] = []
    pos = 0
    for match in _VARIABLE.finditer(pattern):
        out.extend(_plain_tokens(pattern[pos:match.start()]))
        out.extend(_resolve(match.group(1), variables, conditions))
        pos = match.end()
    out.extend(_plain_tokens(pattern[pos:]))
    return out


@lru_cache(maxsize=4096)
def _plain_tokens(text: str) -> tuple[str, ...]:
    return tuple(_STAR if c == "*" else _ONE if c == "?" else c for c in text)


def _resolve(body: str, variables: Mapping[str, str], conditions: Mapping[str, Sequence[str]]) -> str:
    """The literal text of ``${body}``; _Unresolved if it has no value and no default."""
    if body in _ESCAPES:
        return _ESCAPES[body]
    default = _DEFAULT.match(body)
    name, fallback = (default.group(1), default.group(2).replace("''", "'")) if default else (body, None)
    value = lookup_variable(name, variables, conditions)
    if value is None:
        value = fallback
    if value is None:
        raise _Unresolved(name)
    return value


def expand_text(text: str, variables: Mapping[str, str], conditions: Mapping[str, Sequence[str]]) -> str | None:
    """``text`` with its policy variables and escapes replaced; None if a variable has no value."""
    if "${" not in text:
        return text
    try:
        return _VARIABLE.sub(lambda m: _resolve(m.group(1), variables, conditions), text)
    except _Unresolved:
        return None


def _glob(tokens: Sequence[str], value: str) -> bool:
    """Wildcard match in O(len(tokens) * len(value)) at worst (no backtracking blow-up on ``*a*a*a...``)."""
    p = v = 0
    star, mark = -1, 0
    n = len(tokens)
    while v < len(value):
        if p < n and (tokens[p] == _ONE or tokens[p] == value[v]):
            p += 1
            v += 1
        elif p < n and tokens[p] == _STAR:
            star, mark = p, v
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            v = mark
        else:
            return False
    while p < n and tokens[p] == _STAR:
        p += 1
    return p == n


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False,
                   variables: Mapping[str, str] | None = None,
                   conditions: Mapping[str, Sequence[str]] | None = None,
                   expand_variables: bool = True) -> bool:
    """``value`` matches ``pattern`` (``*`` any run, ``?`` one character; ``${...}`` expanded when asked).

    An unresolved variable makes the pattern match nothing."""
    try:
        tokens = _tokens(pattern, variables or {}, conditions or {}, expand_variables)
    except _Unresolved:
        return False
    if ignore_case:
        tokens = [t if t in (_STAR, _ONE) else t.lower() for t in tokens]
        value = value.lower()
    return _glob(tokens, value)


# --- value parsers ---------------------------------------------------------------------------------------------

def parse_number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_date(text: str) -> datetime | None:
    """ISO 8601 (``2026-01-01``, ``2026-01-01T12:00:00Z``, with an offset) or epoch seconds; naive = UTC."""
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        try:
            return datetime.fromtimestamp(float(text), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# --- operators -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Kind:
    """One base operator: how it compares one request value with one policy value."""
    compare: Callable[[str, str, Mapping[str, str], Mapping[str, Sequence[str]], bool], bool]
    negated: bool = False
    variables: bool = False                       # ${...} expanded in its policy values
    check: Callable[[str], bool] | None = None    # validates a policy value at parse time


def _string_equals(ignore_case: bool) -> Callable[[str, str, Mapping[str, str], Mapping[str, Sequence[str]], bool],
                                                  bool]:
    def compare(policy: str, value: str, variables: Mapping[str, str], conditions: Mapping[str, Sequence[str]],
                expand: bool) -> bool:
        expected = expand_text(policy, variables, conditions) if expand else policy
        if expected is None:
            return False
        return expected.lower() == value.lower() if ignore_case else expected == value
    return compare


def _string_like(policy: str, value: str, variables: Mapping[str, str], conditions: Mapping[str, Sequence[str]],
                 expand: bool) -> bool:
    return wildcard_match(policy, value, variables=variables, conditions=conditions, expand_variables=expand)


def _arn_like(policy: str, value: str, variables: Mapping[str, str], conditions: Mapping[str, Sequence[str]],
              expand: bool) -> bool:
    """ArnEquals and ArnLike (identical in AWS): each of the six ``:``-separated parts matched with wildcards."""
    policy_parts, value_parts = policy.split(":", 5), value.split(":", 5)
    if len(policy_parts) != 6 or len(value_parts) != 6:
        return False
    return all(wildcard_match(p, v, variables=variables, conditions=conditions, expand_variables=expand)
               for p, v in zip(policy_parts, value_parts))


def _numeric(test: Callable[[Decimal, Decimal], bool]) -> Callable[..., bool]:
    def compare(policy: str, value: str, *_: object) -> bool:
        left, right = parse_number(value), parse_number(policy)
        return left is not None and right is not None and test(left, right)
    return compare


def _date(test: Callable[[datetime, datetime], bool]) -> Callable[..., bool]:
    def compare(policy: str, value: str, *_: object) -> bool:
        left, right = parse_date(value), parse_date(policy)
        return left is not None and right is not None and test(left, right)
    return compare


def _bool(policy: str, value: str, *_: object) -> bool:
    return policy.strip().lower() == value.strip().lower()


def _binary(policy: str, value: str, *_: object) -> bool:
    try:
        return base64.b64decode(policy, validate=True) == base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False


def _ip(policy: str, value: str, *_: object) -> bool:
    network, address = parse_network(policy), parse_address(value)
    return network is not None and address is not None and address.version == network.version \
        and address in network


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _comparisons(prefix: str, make: Callable[[Callable[..., bool]], Callable[..., bool]],
                 check: Callable[[str], bool]) -> dict[str, _Kind]:
    tests: dict[str, tuple[Callable[..., bool], bool]] = {
        "Equals": (lambda a, b: a == b, False), "NotEquals": (lambda a, b: a == b, True),
        "LessThan": (lambda a, b: a < b, False), "LessThanEquals": (lambda a, b: a <= b, False),
        "GreaterThan": (lambda a, b: a > b, False), "GreaterThanEquals": (lambda a, b: a >= b, False),
    }
    return {prefix + name: _Kind(make(test), negated=negated, check=check) for name, (test, negated) in tests.items()}


OPERATORS: dict[str, _Kind] = {
    "StringEquals": _Kind(_string_equals(False), variables=True),
    "StringNotEquals": _Kind(_string_equals(False), negated=True, variables=True),
    "StringEqualsIgnoreCase": _Kind(_string_equals(True), variables=True),
    "StringNotEqualsIgnoreCase": _Kind(_string_equals(True), negated=True, variables=True),
    "StringLike": _Kind(_string_like, variables=True),
    "StringNotLike": _Kind(_string_like, negated=True, variables=True),
    **_comparisons("Numeric", _numeric, lambda v: parse_number(v) is not None),
    **_comparisons("Date", _date, lambda v: parse_date(v) is not None),
    "Bool": _Kind(_bool, check=lambda v: v.strip().lower() in ("true", "false")),
    "BinaryEquals": _Kind(_binary, check=_is_base64),
    "IpAddress": _Kind(_ip, check=lambda v: parse_network(v) is not None),
    "NotIpAddress": _Kind(_ip, negated=True, check=lambda v: parse_network(v) is not None),
    "ArnEquals": _Kind(_arn_like, variables=True),
    "ArnLike": _Kind(_arn_like, variables=True),
    "ArnNotEquals": _Kind(_arn_like, negated=True, variables=True),
    "ArnNotLike": _Kind(_arn_like, negated=True, variables=True),
}
_CHECK_MESSAGES = {"Numeric": "a number", "Date": "an ISO 8601 date or epoch seconds", "Bool": "true or false",
                   "BinaryEquals": "base64", "IpAddress": "an IP address or CIDR block",
                   "NotIpAddress": "an IP address or CIDR block"}
_OPERATORS_LOWER = {name.lower(): name for name in [*OPERATORS, "Null"]}
_KEY = re.compile(r"[A-Za-z0-9_.-]+:[^\s:][^\s]*")


@dataclass(frozen=True, slots=True)
class Condition:
    """One operator on one key: ``[qualifier:]operator[IfExists]`` -> key -> values."""
    operator: str                   # the base operator, e.g. "StringLike" or "Null"
    key: str                        # as written in the policy (matched lower-cased)
    values: tuple[str, ...]
    qualifier: str = ""             # "", "ForAnyValue" or "ForAllValues"
    if_exists: bool = False

    @property
    def name(self) -> str:
        """The operator as written: ``ForAnyValue:StringLikeIfExists``."""
        return (f"{self.qualifier}:" if self.qualifier else "") + self.operator + ("IfExists" if self.if_exists else "")

    @classmethod
    def parse(cls, name: str, key: str, raw: object, *, variables: bool = True) -> Condition:
        """Validate one ``operator: {key: value(s)}`` entry; PolicyError names what is wrong.

        ``variables``: the document's version expands ``${...}`` (2012-10-17), so they must be well formed."""
        qualifier, _, base = name.rpartition(":")
        if qualifier and qualifier not in ("ForAnyValue", "ForAllValues"):
            raise PolicyError(f"unknown condition set operator {qualifier!r} in {name!r} "
                                 "(ForAnyValue or ForAllValues)")
        if_exists = base.endswith("IfExists") and base != "IfExists"
        if if_exists:
            base = base[:-len("IfExists")]
        if base not in OPERATORS and base != "Null":
            hint = _OPERATORS_LOWER.get(base.lower())
            raise PolicyError(f"unknown condition operator {name!r}"
                                 + (f" (operators are case-sensitive: {hint!r})" if hint else ""))
        if base == "Null" and (if_exists or qualifier):
            raise PolicyError(f"condition operator {name!r}: Null takes no IfExists or set qualifier")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise PolicyError(f"invalid condition key {key!r} under {name!r} (keys look like 'aws:SourceIp')")
        items: list[object] = (
            list(raw) if isinstance(raw, list) else [raw])  # pyright: ignore[reportUnknownArgumentType]
        if not items:
            raise PolicyError(f"condition {name!r} on {key!r} has no value")
        values: list[str] = []
        for item in items:
            if isinstance(item, bool):
                values.append("true" if item else "false")
            elif isinstance(item, (str, int, float)):
                values.append(str(item))
            else:
                raise PolicyError(f"condition {name!r} on {key!r}: values are strings, numbers or booleans, "
                                     f"not {type(item).__name__}")
        kind = OPERATORS.get(base)
        for value in values:
            if base == "Null" and value.lower() not in ("true", "false"):
                raise PolicyError(f"condition Null on {key!r}: the value must be true or false, not {value!r}")
            if kind is not None and kind.check is not None and not kind.check(value):
                what = _CHECK_MESSAGES.get(base) or next(m for p, m in _CHECK_MESSAGES.items() if base.startswith(p))
                raise PolicyError(f"condition {name!r} on {key!r}: {value!r} is not {what}")
            if variables and kind is not None and kind.variables:
                check_variables(value)
        return cls(operator=base, key=key, values=tuple(values), qualifier=qualifier, if_exists=if_exists)

    def evaluate(self, conditions: Mapping[str, Sequence[str]], variables: Mapping[str, str],
                 *, expand_variables: bool = True) -> bool:
        """Whether the request (its lower-cased condition keys and variables) satisfies this condition."""
        present = conditions.get(self.key.lower())
        if self.operator == "Null":
            absent = not present
            return any(absent == (value.lower() == "true") for value in self.values)
        if not present:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return OPERATORS[self.operator].negated
        kind = OPERATORS[self.operator]

        def matches(value: str) -> bool:
            hit = any(kind.compare(policy, value, variables, conditions, expand_variables and kind.variables)
                      for policy in self.values)
            return hit != kind.negated

        if self.qualifier == "ForAllValues":
            return all(matches(value) for value in present)
        if self.qualifier == "ForAnyValue":
            return any(matches(value) for value in present)
        # A single-valued operator on a multivalued key: positive = any value matches; negated = none does.
        if kind.negated:
            return all(matches(value) for value in present)
        return any(matches(value) for value in present)
