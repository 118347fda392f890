"""Bucket lifecycle rules (storage_engine/lifecycle/rules.py): AWS's documents accepted and written back,
bad ones refused with AWS's errors, and the evaluator's day arithmetic and precedence."""

from __future__ import annotations

import calendar

import pytest

from storage_engine.errors import InvalidArgument, InvalidStorageClass, MalformedXML, S3Error
from storage_engine.lifecycle.rules import (DAY, Action, Filter, Lifecycle, Rule, Transition, VersionFacts,
                                            document, expiry_time, parse)

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def doc(*rules: str) -> bytes:
    return f"<LifecycleConfiguration {NS}>{''.join(rules)}</LifecycleConfiguration>".encode()


def rule(body: str, status: str = "Enabled", rule_id: str = "r1") -> str:
    return f"<Rule><ID>{rule_id}</ID><Status>{status}</Status>{body}</Rule>"


def epoch(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> float:
    return float(calendar.timegm((y, m, d, hh, mm, 0)))


EVERYTHING = doc(
    rule("<Filter><And><Prefix>logs/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>"
         "<ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>999</ObjectSizeLessThan></And>"
         "</Filter><Expiration><Days>365</Days></Expiration><Transition><Days>30</Days>"
         "<StorageClass>WARM</StorageClass></Transition><Transition><Days>180</Days><StorageClass>COLD</StorageClass>"
         "</Transition><NoncurrentVersionExpiration><NoncurrentDays>90</NoncurrentDays>"
         "<NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
         "<NoncurrentVersionTransition><NoncurrentDays>7</NoncurrentDays><StorageClass>WARM</StorageClass>"
         "</NoncurrentVersionTransition>"),
    rule("<Filter><Prefix>tmp/</Prefix></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>2"
         "</DaysAfterInitiation></AbortIncompleteMultipartUpload><Expiration><ExpiredObjectDeleteMarker>true"
         "</ExpiredObjectDeleteMarker></Expiration>", rule_id="r2"),
    rule("<Prefix>old/</Prefix><Expiration><Date>2027-01-01T00:00:00Z</Date></Expiration>", "Disabled", "r3"),
)


def test_every_action_and_filter_parses_and_writes_back_the_same_rules() -> None:
    lifecycle = parse(EVERYTHING)
    first, second, third = lifecycle.rules
    assert first.filter == Filter("logs/", (("k", "v"),), 10, 999)
    assert first.expiration_days == 365 and first.noncurrent_expiration_days == 90
    assert first.newer_noncurrent_versions == 3
    assert [t.tier for t in first.transitions] == ["WARM", "COLD"]
    assert first.noncurrent_transitions == (Transition("WARM", days=7),)
    assert second.abort_multipart_days == 2 and second.expired_object_delete_marker
    assert not third.enabled and third.filter.prefix == "old/" and third.expiration_date == epoch(2027, 1, 1)
    assert parse(document(lifecycle)) == lifecycle


@pytest.mark.parametrize(("body", "error", "words"), [
    (b"<LifecycleConfiguration><Rule>", MalformedXML, ""),
    (doc(), MalformedXML, ""),
    (doc(rule("<Expiration><Days>1</Days></Expiration>", status="On")), MalformedXML, ""),
    (doc(rule("<Expiration><Days>0</Days></Expiration>")), InvalidArgument, "must be a positive integer"),
    (doc(rule("<Expiration><Days>-3</Days></Expiration>")), InvalidArgument, "must be a positive integer"),
    (doc(rule("<Expiration><Date>2027-01-01T10:00:00Z</Date></Expiration>")), InvalidArgument, "midnight GMT"),
    (doc(rule("<Expiration><Date>next week</Date></Expiration>")), InvalidArgument, "ISO 8601"),
    (doc(rule("<Expiration><Days>3</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
              "</Expiration>")), InvalidArgument, "cannot be specified with Days or Date"),
    (doc(rule("<Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><Expiration>"
              "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")),
     InvalidArgument, "object tags"),
    (doc(rule("<Filter><Prefix>a</Prefix><Tag><Key>a</Key><Value>b</Value></Tag></Filter>"
              "<Expiration><Days>1</Days></Expiration>")), MalformedXML, ""),
    (doc(rule("<Filter><Prefix>a</Prefix></Filter><Prefix>b</Prefix><Expiration><Days>1</Days></Expiration>")),
     MalformedXML, ""),
    (doc(rule("<Filter><Prefix>a</Prefix></Filter>")), InvalidArgument, "At least one action"),
    (doc(rule("<Expiration><Days>1</Days></Expiration>"), rule("<Expiration><Days>2</Days></Expiration>")),
     InvalidArgument, "Rule ID must be unique"),
    (doc(rule("<Expiration><Days>1</Days></Expiration>", rule_id="x" * 256)), InvalidArgument, "255"),
    (doc(rule("<Expiration><Days>30</Days></Expiration><Transition><Days>30</Days>"
              "<StorageClass>WARM</StorageClass></Transition>")), InvalidArgument, "must be greater than"),
    (doc(rule("<Transition><Days>3</Days><Date>2027-01-01T00:00:00Z</Date><StorageClass>WARM</StorageClass>"
              "</Transition>")), InvalidArgument, "Exactly one of 'Days' or 'Date'"),
    (doc(rule("<Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><AbortIncompleteMultipartUpload>"
              "<DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>")),
     InvalidArgument, "AbortIncompleteMultipartUpload"),
    (doc(rule("<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>5"
              "</ObjectSizeLessThan></And></Filter><Expiration><Days>1</Days></Expiration>")),
     InvalidArgument, "ObjectSizeLessThan"),
    (doc(rule("<NoncurrentVersionExpiration><NoncurrentDays>5</NoncurrentDays><NewerNoncurrentVersions>101"
              "</NewerNoncurrentVersions></NoncurrentVersionExpiration>")), InvalidArgument, "1 to 100"),
    (doc(rule("<Expiration><Days>1</Days></Expiration><Bogus/>")), MalformedXML, ""),
])
def test_bad_documents_get_aws_errors(body: bytes, error: type[S3Error], words: str) -> None:
    with pytest.raises(error) as caught:
        parse(body)
    assert words in caught.value.message


def test_a_transition_to_an_unknown_tier_is_invalid_storage_class() -> None:
    body = doc(rule("<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>"))
    with pytest.raises(InvalidStorageClass, match="GLACIER"):
        parse(body, known_tier=lambda name: name in {"WARM", "COLD"})
    assert parse(body, known_tier=lambda name: name == "GLACIER").rules[0].transitions[0].tier == "GLACIER"


def test_days_end_at_the_first_midnight_utc_after_the_period() -> None:
    written = epoch(2026, 11, 30, 23, 59)
    assert expiry_time(written, 1) == epoch(2026, 12, 2)      # "1 day" can take almost 2 (as AWS)
    assert expiry_time(epoch(2026, 11, 30), 1) == epoch(2026, 12, 2)
    assert expiry_time(written, 0) == written
    lifecycle = Lifecycle((Rule("r", True, expiration_days=1),))
    v = VersionFacts("k", written)
    assert lifecycle.due(v, epoch(2026, 12, 1, 23, 59)).action is Action.NONE
    assert lifecycle.due(v, epoch(2026, 12, 2)).action is Action.EXPIRE


def test_expiry_beats_transition_and_the_latest_due_transition_is_where_a_version_belongs() -> None:
    lifecycle = Lifecycle((
        Rule("cold", True, transitions=(Transition("COLD", days=10),)),
        Rule("warm", True, transitions=(Transition("WARM", days=5),)),
        Rule("gone", True, Filter(prefix="tmp/"), expiration_days=20),
    ))
    t0 = epoch(2026, 1, 1)
    assert lifecycle.due(VersionFacts("a", t0), t0 + 3 * DAY).action is Action.NONE
    due = lifecycle.due(VersionFacts("a", t0), t0 + 7 * DAY)
    assert (due.action, due.tier, due.rule) == (Action.TRANSITION, "WARM", "warm")
    assert lifecycle.due(VersionFacts("a", t0), t0 + 30 * DAY).tier == "COLD"     # straight to the last tier
    assert lifecycle.due(VersionFacts("a", t0, tier="WARM"), t0 + 7 * DAY).action is Action.NONE
    assert lifecycle.due(VersionFacts("a", t0, tier="WARM"), t0 + 30 * DAY).tier == "COLD"
    assert lifecycle.due(VersionFacts("tmp/a", t0, tier="COLD"), t0 + 30 * DAY).action is Action.EXPIRE
    assert lifecycle.due(VersionFacts("a", t0, tier="COLD"), t0 + 300 * DAY).action is Action.NONE


def test_filters_and_disabled_rules() -> None:
    lifecycle = Lifecycle((
        Rule("tagged", True, Filter("logs/", (("keep", "no"),), size_greater_than=100), expiration_days=1),
        Rule("off", False, expiration_days=1),
    ))
    later = epoch(2026, 6, 1)
    t0 = epoch(2026, 1, 1)
    assert lifecycle.due(VersionFacts("logs/a", t0, 101, {"keep": "no"}), later).action is Action.EXPIRE
    for facts in (VersionFacts("logs/a", t0, 100, {"keep": "no"}), VersionFacts("logs/a", t0, 101, {"keep": "yes"}),
                  VersionFacts("data/a", t0, 101, {"keep": "no"})):
        assert lifecycle.due(facts, later).action is Action.NONE


def test_noncurrent_versions_count_from_their_successor_and_keep_the_newest() -> None:
    lifecycle = Lifecycle((Rule("nc", True, noncurrent_expiration_days=10, newer_noncurrent_versions=2),))
    t0 = epoch(2026, 1, 1)
    replaced = t0 + 100 * DAY
    old = VersionFacts("k", t0, is_latest=False, successor_mod_time=replaced, newer_noncurrent=2)
    assert lifecycle.due(old, replaced + 5 * DAY).action is Action.NONE          # 10 days not over yet
    assert lifecycle.due(old, replaced + 12 * DAY).action is Action.EXPIRE_VERSION
    kept = VersionFacts("k", t0, is_latest=False, successor_mod_time=replaced, newer_noncurrent=1)
    assert lifecycle.due(kept, replaced + 12 * DAY).action is Action.NONE         # one of the newest two


def test_expired_object_delete_markers_go_only_when_alone() -> None:
    lifecycle = Lifecycle((Rule("dm", True, expired_object_delete_marker=True),))
    t0 = epoch(2026, 1, 1)
    assert lifecycle.due(VersionFacts("k", t0, delete_marker=True), t0).action is Action.EXPIRE_VERSION
    assert lifecycle.due(VersionFacts("k", t0, delete_marker=True, only_version=False), t0 + 999 * DAY).action \
        is Action.NONE


def test_only_keys_an_enabled_rule_may_reach_are_judged() -> None:
    lifecycle = parse(EVERYTHING)                     # enabled: logs/, tmp/; disabled: old/
    assert lifecycle.may_apply("logs/x") and lifecycle.may_apply("tmp/y")
    assert not lifecycle.may_apply("old/z") and not lifecycle.may_apply("data/a")


def test_abort_incomplete_multipart_uploads_by_prefix() -> None:
    lifecycle = parse(EVERYTHING)
    assert lifecycle.abort_multipart_days("tmp/upload") == 2
    assert lifecycle.abort_multipart_days("logs/upload") is None
