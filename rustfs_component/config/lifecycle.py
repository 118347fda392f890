"""Default lifecycle rules of a tenant's buckets (`tenants[].lifecycle`), handed to its engines.

The component only renders them (AWS's LifecycleConfiguration XML, `rustfs_component.engine_tiers`); the engine
validates and applies them with its own code (`storage_engine.lifecycle.rules`, docs/tiering.md): on each listed
bucket (or every bucket, '*') that has no configuration of its own, at start and at CreateBucket.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from rustfs_component.config.base import StrictModel
from rustfs_component.config.limits import Loc, check_s3_bucket_name, raise_at

EngineTierName = Literal["WARM", "COLD"]
"""The engine's tiers the component declares: WARM (a pool on warm volumes), COLD (the cold bucket)."""


def _bucket_or_star(value: str) -> str:
    return value if value == "*" else check_s3_bucket_name(value)


class LifecycleTransition(StrictModel):
    """Move a current version to a tier `days` days after it was written."""

    days: int = Field(ge=1, description="Days after the object's creation (whole days, as AWS counts them). Required.")
    tier: EngineTierName = Field(
        description="'WARM' (the tenant's pool with role 'warm-tier') or 'COLD' (the platform's cold_tier). Required.")


class LifecycleRule(StrictModel):
    """One rule: a key prefix and what happens to the objects under it."""

    id: str = Field(min_length=1, max_length=255, description="Rule ID, unique in its bucket entry. Required.")
    prefix: str = Field(default="", max_length=1024, description="Key prefix the rule applies to. Default '' (all).")
    transitions: list[LifecycleTransition] = Field(
        default_factory=list,
        description="Transitions, in increasing days, each to a different tier. Default none.")
    expiration_days: int | None = Field(
        default=None, ge=1, description="Delete current versions this many days after creation (a delete marker "
                                        "in a versioned bucket); more than every transition's days. Default none.")
    noncurrent_expiration_days: int | None = Field(
        default=None, ge=1, description="Remove a noncurrent version this many days after it became noncurrent. "
                                        "Default none.")
    abort_incomplete_multipart_days: int | None = Field(
        default=None, ge=1, description="Abort multipart uploads not completed this many days after they began. "
                                        "Default none.")

    @model_validator(mode="after")
    def _check(self) -> "LifecycleRule":
        errors: list[tuple[Loc, str, Any]] = []
        days = [t.days for t in self.transitions]
        for i in range(1, len(days)):
            if days[i] <= days[i - 1]:
                errors.append((("transitions", i, "days"), f"transitions must be in increasing days: {days[i]} "
                               f"after {days[i - 1]}", days[i]))
        tiers = [t.tier for t in self.transitions]
        for i, tier in enumerate(tiers):
            if tier in tiers[:i]:
                errors.append((("transitions", i, "tier"), f"two transitions to {tier} in one rule", tier))
        if self.expiration_days is not None and days and self.expiration_days <= max(days):
            errors.append((("expiration_days",), f"expiration_days must be more than the last transition's days "
                           f"({max(days)})", self.expiration_days))
        if not (self.transitions or self.expiration_days or self.noncurrent_expiration_days
                or self.abort_incomplete_multipart_days):
            errors.append(((), "a rule needs at least one action: transitions, expiration_days, "
                           "noncurrent_expiration_days or abort_incomplete_multipart_days", self.id))
        raise_at("LifecycleRule", errors)
        return self


class LifecycleDefault(StrictModel):
    """The default rules of one bucket, or of every bucket ('*') without an entry of its own."""

    bucket: Annotated[str, AfterValidator(_bucket_or_star)] = Field(
        description="A bucket name, or '*' for every bucket. Required.")
    rules: list[LifecycleRule] = Field(min_length=1, max_length=1000, description="The rules. Required, at least one.")

    @model_validator(mode="after")
    def _unique_ids(self) -> "LifecycleDefault":
        ids = [r.id for r in self.rules]
        raise_at("LifecycleDefault", [(("rules", i, "id"), f"duplicate rule id {rule_id!r}", rule_id)
                                      for i, rule_id in enumerate(ids) if rule_id in ids[:i]])
        return self

    def tiers(self) -> list[tuple[Loc, EngineTierName]]:
        """(location relative to this entry, tier) of every transition."""
        return [(("rules", i, "transitions", j, "tier"), t.tier)
                for i, rule in enumerate(self.rules) for j, t in enumerate(rule.transitions)]
