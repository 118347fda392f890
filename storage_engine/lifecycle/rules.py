"""Bucket lifecycle rules: the S3 document parsed and validated, written back, and evaluated (docs/tiering.md).

Pure: no I/O. ``parse`` turns a ``<LifecycleConfiguration>`` into a :class:`Lifecycle` or raises the S3
error AWS answers (``MalformedXML`` for the shape, ``InvalidArgument`` with AWS's wording for the values,
``InvalidStorageClass`` for a tier the caller does not know); ``document`` writes it back.
:meth:`Lifecycle.due` says what a version's rules ask for now: the one evaluator of the scanner, of PUT
(an object due at once) and of the component's default rules, which are applied through the S3 API.

Time follows AWS and MinIO's ``ExpectedExpiryTime``: "N days" ends at the first midnight UTC after the
version's time plus N days, so a rule acts on whole days.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from storage_engine.api.xml import XmlNode, XmlWriter, parse_xml
from storage_engine.errors import InvalidArgument, InvalidStorageClass, MalformedXML

ROOT = "LifecycleConfiguration"
MAX_BODY = 1 << 20
MAX_RULES = 1000
MAX_ID = 255
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Filter:
    """What a rule applies to; every given condition must hold (an empty filter takes every object)."""

    prefix: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    size_greater_than: int | None = None
    size_less_than: int | None = None

    def matches(self, key: str, size: int, tags: Mapping[str, str]) -> bool:
        if not key.startswith(self.prefix):
            return False
        if any(tags.get(name) != value for name, value in self.tags):
            return False
        if self.size_greater_than is not None and not size > self.size_greater_than:
            return False
        return self.size_less_than is None or size < self.size_less_than


@dataclass(frozen=True, slots=True)
class Transition:
    tier: str                               # the document's StorageClass: a tier name
    days: int | None = None                 # current versions: days after creation, or
    date: float | None = None               # a date (midnight UTC, epoch seconds)
    newer_noncurrent: int | None = None     # noncurrent transitions only


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    enabled: bool
    filter: Filter = Filter()
    expiration_days: int | None = None
    expiration_date: float | None = None
    expired_object_delete_marker: bool = False
    noncurrent_expiration_days: int | None = None
    newer_noncurrent_versions: int | None = None
    transitions: tuple[Transition, ...] = ()
    noncurrent_transitions: tuple[Transition, ...] = ()     # days = NoncurrentDays
    abort_multipart_days: int | None = None


class Action(enum.Enum):
    NONE = "none"
    EXPIRE = "expire"                     # the current version: delete it (a delete marker when versioned)
    EXPIRE_VERSION = "expire-version"     # a noncurrent version, or an expired delete marker: remove it
    TRANSITION = "transition"             # move the version's data to ``Due.tier``


@dataclass(frozen=True, slots=True)
class Due:
    action: Action
    rule: str = ""                        # the rule's ID
    tier: str = ""                        # TRANSITION only


NOTHING = Due(Action.NONE)


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What the rules look at of one version."""

    key: str
    mod_time: float
    size: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)
    is_latest: bool = True
    delete_marker: bool = False
    successor_mod_time: float | None = None   # noncurrent: when the next newer version was written
    newer_noncurrent: int = 0                 # noncurrent: how many noncurrent versions are newer than this
    only_version: bool = True                 # a delete marker: no other version of the key is left
    tier: str = ""                            # "" while the data is on the hot set


def expiry_time(start: float, days: int) -> float:
    """The end of ``days`` days from ``start``: the first midnight UTC after ``start + days`` days (days 0:
    ``start`` itself), as AWS and MinIO's ``ExpectedExpiryTime``."""
    if days == 0:
        return start
    return (start // DAY + days + 1) * DAY


@dataclass(frozen=True, slots=True)
class Lifecycle:
    rules: tuple[Rule, ...]

    def due(self, version: VersionFacts, now: float) -> Due:
        """What the enabled rules ask of ``version`` at ``now``. Expiry wins over transition (a tier that
        cannot be reached never keeps an object alive). Among due transitions the latest due is where the
        version belongs (30 days to WARM, 180 to COLD: at day 200 it goes straight to COLD, and an object on
        COLD never moves back to WARM)."""
        transition: tuple[float, Due] | None = None
        for rule in self.rules:
            if not rule.enabled or not rule.filter.matches(version.key, version.size, version.tags):
                continue
            expired = _expiry(rule, version, now)
            if expired is not None:
                return expired
            for at, tier in _transitions(rule, version):
                if at <= now and (transition is None or at > transition[0]):
                    transition = (at, Due(Action.TRANSITION, rule.id, tier))
        if transition is None or transition[1].tier == version.tier:
            return NOTHING
        return transition[1]

    def may_apply(self, key: str) -> bool:
        """Whether any enabled rule's prefix takes ``key``: the scanner judges (locks, reads) only those keys."""
        return any(r.enabled and key.startswith(r.filter.prefix) for r in self.rules)

    def abort_multipart_days(self, key: str) -> int | None:
        """Days after its initiation an incomplete multipart upload of ``key`` is aborted (the fewest any
        enabled rule whose prefix matches gives), or None."""
        days = [r.abort_multipart_days for r in self.rules
                if r.enabled and r.abort_multipart_days is not None and key.startswith(r.filter.prefix)]
        return min(days) if days else None


def _expiry(rule: Rule, v: VersionFacts, now: float) -> Due | None:
    if v.is_latest:
        if v.delete_marker:
            if v.only_version and (rule.expired_object_delete_marker
                                   or (rule.expiration_days is not None
                                       and expiry_time(v.mod_time, rule.expiration_days) <= now)):
                return Due(Action.EXPIRE_VERSION, rule.id)
            return None
        if rule.expiration_days is not None and expiry_time(v.mod_time, rule.expiration_days) <= now:
            return Due(Action.EXPIRE, rule.id)
        if rule.expiration_date is not None and rule.expiration_date <= now:
            return Due(Action.EXPIRE, rule.id)
        return None
    if rule.noncurrent_expiration_days is None or v.successor_mod_time is None:
        return None
    if expiry_time(v.successor_mod_time, rule.noncurrent_expiration_days) > now:
        return None
    if rule.newer_noncurrent_versions is not None and v.newer_noncurrent < rule.newer_noncurrent_versions:
        return None                          # keep the newest N noncurrent versions
    return Due(Action.EXPIRE_VERSION, rule.id)


def _transitions(rule: Rule, v: VersionFacts) -> list[tuple[float, str]]:
    if v.delete_marker:
        return []
    if v.is_latest:
        return [(t.date if t.date is not None else expiry_time(v.mod_time, t.days or 0), t.tier)
                for t in rule.transitions]
    if v.successor_mod_time is None:
        return []
    return [(expiry_time(v.successor_mod_time, t.days or 0), t.tier) for t in rule.noncurrent_transitions
            if t.newer_noncurrent is None or v.newer_noncurrent >= t.newer_noncurrent]


# --- the document ------------------------------------------------------------------------------------------
def parse(data: bytes, known_tier: Callable[[str], bool] = lambda name: True) -> Lifecycle:
    """A ``<LifecycleConfiguration>`` body -> its rules, validated as AWS validates them."""
    root = parse_xml(data, ROOT, MAX_BODY)
    if any(child.tag != "Rule" for child in root.children):
        raise MalformedXML()
    nodes = root.findall("Rule")
    if not nodes:
        raise MalformedXML()
    if len(nodes) > MAX_RULES:
        raise InvalidArgument(f"Lifecycle configuration may not have more than {MAX_RULES} rules.")
    rules = tuple(_rule(node, known_tier) for node in nodes)
    ids = [r.id for r in rules if r.id]
    if len(set(ids)) != len(ids):
        raise InvalidArgument("Rule ID must be unique. Found same ID for more than one rule.")
    return Lifecycle(rules)


_RULE_CHILDREN = {"ID", "Status", "Filter", "Prefix", "Expiration", "Transition", "NoncurrentVersionExpiration",
                  "NoncurrentVersionTransition", "AbortIncompleteMultipartUpload"}


def _rule(node: XmlNode, known_tier: Callable[[str], bool]) -> Rule:
    if any(child.tag not in _RULE_CHILDREN for child in node.children):
        raise MalformedXML()
    rule_id = _single_text(node, "ID") or ""
    if len(rule_id) > MAX_ID:
        raise InvalidArgument(f"ID length should not exceed allowed limit of {MAX_ID}.")
    status = _single_text(node, "Status")
    if status not in ("Enabled", "Disabled"):
        raise MalformedXML()
    filter_node, prefix = node.find("Filter"), _single_text(node, "Prefix")
    if filter_node is not None and prefix is not None:
        raise MalformedXML()
    flt = _filter(filter_node) if filter_node is not None else Filter(prefix=prefix or "")

    expiration_days = expiration_date = None
    delete_marker = False
    expiration = _single(node, "Expiration")
    if expiration is not None:
        expiration_days = _days(expiration, "Days", "Expiration")
        expiration_date = _date(expiration)
        marker = _single_text(expiration, "ExpiredObjectDeleteMarker")
        if marker is not None:
            if marker not in ("true", "false"):
                raise MalformedXML()
            delete_marker = marker == "true"
        given = sum(x is not None for x in (expiration_days, expiration_date, marker))
        if given != 1:
            raise InvalidArgument("ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle "
                                  "Expiration Policy." if given > 1 else "At least one of Days, Date or "
                                  "ExpiredObjectDeleteMarker must be specified in a Lifecycle Expiration Policy.")
        if delete_marker and flt.tags:
            raise InvalidArgument("ExpiredObjectDeleteMarker cannot be specified with object tags in a Lifecycle "
                                  "Expiration Policy.")

    noncurrent_days = newer = None
    noncurrent = _single(node, "NoncurrentVersionExpiration")
    if noncurrent is not None:
        noncurrent_days = _days(noncurrent, "NoncurrentDays", "NoncurrentVersionExpiration")
        newer = _count(noncurrent, "NewerNoncurrentVersions")
        if noncurrent_days is None:
            raise MalformedXML()

    transitions = tuple(_transition(t, known_tier, noncurrent=False) for t in node.findall("Transition"))
    noncurrent_transitions = tuple(_transition(t, known_tier, noncurrent=True)
                                   for t in node.findall("NoncurrentVersionTransition"))
    for group, what in ((transitions, "Transition"), (noncurrent_transitions, "NoncurrentVersionTransition")):
        tiers = [t.tier for t in group]
        if len(set(tiers)) != len(tiers):
            raise InvalidArgument(f"'StorageClass' must be different for '{what}' actions in the same rule.")
    if expiration_days is not None and any(t.days is not None and t.days >= expiration_days for t in transitions):
        raise InvalidArgument("'Days' in the Expiration action must be greater than 'Days' in the Transition "
                              "action.")
    if noncurrent_days is not None and any(t.days is not None and t.days >= noncurrent_days
                                           for t in noncurrent_transitions):
        raise InvalidArgument("'NoncurrentDays' in the NoncurrentVersionExpiration action must be greater than "
                              "'NoncurrentDays' in the NoncurrentVersionTransition action.")

    abort_days = None
    abort = _single(node, "AbortIncompleteMultipartUpload")
    if abort is not None:
        abort_days = _days(abort, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")
        if abort_days is None:
            raise MalformedXML()
        if flt.tags or flt.size_greater_than is not None or flt.size_less_than is not None:
            raise InvalidArgument("AbortIncompleteMultipartUpload cannot be specified with Tags or object size "
                                  "filters.")

    if expiration is None and noncurrent is None and abort is None and not transitions \
            and not noncurrent_transitions:
        raise InvalidArgument("At least one action needs to be specified in a rule.")
    return Rule(rule_id, status == "Enabled", flt, expiration_days, expiration_date, delete_marker,
                noncurrent_days, newer, transitions, noncurrent_transitions, abort_days)


def _filter(node: XmlNode) -> Filter:
    conditions = node.children
    if len(conditions) > 1:
        raise MalformedXML()                 # several conditions go inside <And>
    if not conditions:
        return Filter()
    cond = conditions[0]
    if cond.tag == "And":
        return _conditions(cond.children, in_and=True)
    return _conditions([cond], in_and=False)


def _conditions(nodes: list[XmlNode], in_and: bool) -> Filter:
    prefix, tags, greater, less = "", [], None, None
    seen: set[str] = set()
    for cond in nodes:
        if cond.tag in seen and cond.tag != "Tag":
            raise MalformedXML()
        seen.add(cond.tag)
        if cond.tag == "Prefix":
            prefix = cond.text
        elif cond.tag == "Tag":
            key, value = _single_text(cond, "Key"), _single_text(cond, "Value")
            if key is None or value is None or len(cond.children) != 2:
                raise MalformedXML()
            tags.append((key, value))
        elif cond.tag in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
            size = _int(cond.text)
            if size is None or size < 0:
                raise InvalidArgument(f"'{cond.tag}' must be a non-negative integer.")
            if cond.tag == "ObjectSizeGreaterThan":
                greater = size
            else:
                less = size
        else:
            raise MalformedXML()
    if len({k for k, _ in tags}) != len(tags):
        raise InvalidArgument("Duplicate Tag Keys are not allowed.")
    if greater is not None and less is not None and less <= greater:
        raise InvalidArgument("'ObjectSizeLessThan' must be greater than 'ObjectSizeGreaterThan'.")
    if in_and and len(nodes) < 2 and not tags:
        raise MalformedXML()                 # <And> joins two or more conditions
    return Filter(prefix, tuple(tags), greater, less)


def _transition(node: XmlNode, known_tier: Callable[[str], bool], noncurrent: bool) -> Transition:
    tier = _single_text(node, "StorageClass")
    if not tier:
        raise MalformedXML()
    if not known_tier(tier):
        raise InvalidStorageClass(f"The storage class '{tier}' is not a tier of this deployment.")
    what = "NoncurrentVersionTransition" if noncurrent else "Transition"
    if noncurrent:
        days = _days(node, "NoncurrentDays", what, zero=True)
        if days is None:
            raise MalformedXML()
        return Transition(tier, days=days, newer_noncurrent=_count(node, "NewerNoncurrentVersions"))
    days, date = _days(node, "Days", what, zero=True), _date(node)
    if (days is None) == (date is None):
        raise InvalidArgument("Exactly one of 'Days' or 'Date' must be specified in a Transition action.")
    return Transition(tier, days=days, date=date)


def _single(node: XmlNode, tag: str) -> XmlNode | None:
    found = node.findall(tag)
    if len(found) > 1:
        raise MalformedXML()
    return found[0] if found else None


def _single_text(node: XmlNode, tag: str) -> str | None:
    child = _single(node, tag)
    return child.text.strip() if child is not None else None


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _days(node: XmlNode, tag: str, action: str, zero: bool = False) -> int | None:
    text = _single_text(node, tag)
    if text is None:
        return None
    value = _int(text)
    if value is None or value < (0 if zero else 1):
        raise InvalidArgument(f"'{tag}' for {action} action must be a "
                              f"{'non-negative' if zero else 'positive'} integer.")
    return value


def _count(node: XmlNode, tag: str) -> int | None:
    text = _single_text(node, tag)
    if text is None:
        return None
    value = _int(text)
    if value is None or not 1 <= value <= 100:
        raise InvalidArgument(f"'{tag}' must be an integer from 1 to 100.")
    return value


def _date(node: XmlNode) -> float | None:
    text = _single_text(node, "Date")
    if text is None:
        return None
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument("'Date' must be in ISO 8601 format.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    when = when.astimezone(_dt.timezone.utc)
    if (when.hour, when.minute, when.second, when.microsecond) != (0, 0, 0, 0):
        raise InvalidArgument("'Date' must be at midnight GMT.")
    return when.timestamp()


def document(lifecycle: Lifecycle) -> bytes:
    """The rules as a ``<LifecycleConfiguration>`` body (what GetBucketLifecycleConfiguration answers)."""
    w = XmlWriter(ROOT)
    for rule in lifecycle.rules:
        w.open("Rule")
        if rule.id:
            w.elem("ID", rule.id)
        _write_filter(w, rule.filter)
        w.elem("Status", "Enabled" if rule.enabled else "Disabled")
        if rule.expiration_days is not None or rule.expiration_date is not None \
                or rule.expired_object_delete_marker:
            w.open("Expiration")
            if rule.expiration_days is not None:
                w.elem("Days", rule.expiration_days)
            if rule.expiration_date is not None:
                w.elem("Date", _iso(rule.expiration_date))
            if rule.expired_object_delete_marker:
                w.elem("ExpiredObjectDeleteMarker", True)
            w.close("Expiration")
        for t in rule.transitions:
            w.open("Transition")
            if t.date is not None:
                w.elem("Date", _iso(t.date))
            else:
                w.elem("Days", t.days or 0)
            w.elem("StorageClass", t.tier)
            w.close("Transition")
        if rule.noncurrent_expiration_days is not None:
            w.open("NoncurrentVersionExpiration")
            w.elem("NoncurrentDays", rule.noncurrent_expiration_days)
            if rule.newer_noncurrent_versions is not None:
                w.elem("NewerNoncurrentVersions", rule.newer_noncurrent_versions)
            w.close("NoncurrentVersionExpiration")
        for t in rule.noncurrent_transitions:
            w.open("NoncurrentVersionTransition")
            w.elem("NoncurrentDays", t.days or 0)
            w.elem("StorageClass", t.tier)
            if t.newer_noncurrent is not None:
                w.elem("NewerNoncurrentVersions", t.newer_noncurrent)
            w.close("NoncurrentVersionTransition")
        if rule.abort_multipart_days is not None:
            w.open("AbortIncompleteMultipartUpload")
            w.elem("DaysAfterInitiation", rule.abort_multipart_days)
            w.close("AbortIncompleteMultipartUpload")
        w.close("Rule")
    return w.finish()


def _write_filter(w: XmlWriter, flt: Filter) -> None:
    sizes = [(tag, size) for tag, size in (("ObjectSizeGreaterThan", flt.size_greater_than),
                                           ("ObjectSizeLessThan", flt.size_less_than)) if size is not None]
    joined = (1 if flt.prefix else 0) + len(flt.tags) + len(sizes) > 1
    w.open("Filter")
    if joined:
        w.open("And")
    if flt.prefix:
        w.elem("Prefix", flt.prefix)
    for key, value in flt.tags:
        w.open("Tag")
        w.elem("Key", key)
        w.elem("Value", value)
        w.close("Tag")
    for tag, size in sizes:
        w.elem(tag, size)
    if joined:
        w.close("And")
    w.close("Filter")


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
