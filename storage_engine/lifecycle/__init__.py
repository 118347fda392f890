"""Lifecycle rules and tiers (docs/tiering.md): ``rules`` parses, validates and evaluates bucket lifecycle
configurations."""
