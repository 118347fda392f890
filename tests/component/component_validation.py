"""Schema checks of rendered Kubernetes objects, offline.

Built-in kinds: `kubernetes-validate` in strict mode (unknown fields rejected) for every Kubernetes
version from 1.31 to the newest the package ships. Custom resources: the CRDs' own OpenAPI schemas from
../shared/schemas/crds (beside the repository, as in CI), made strict: `additionalProperties: false`
wherever a schema lists `properties` without `x-kubernetes-preserve-unknown-fields`, and with `default`s
applied first, as the API server does (see that folder's README).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import all_versions

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO.parent / "shared" / "schemas" / "crds"
MIN_KUBERNETES = "1.31"
# No public v1alpha3 TanzuKubernetesCluster CRD exists; v1alpha2 is the documented stand-in. The component
# renders only fields both versions share, so the strict v1alpha2 schema can check it.
STAND_INS = {"run.tanzu.vmware.com/v1alpha3/TanzuKubernetesCluster": "run.tanzu.vmware.com/v1alpha2/TanzuKubernetesCluster"}
METADATA_KEYS = {"name", "namespace", "labels", "annotations"}


def kubernetes_versions() -> list[str]:
    """1.31 and the newest shipped (the range the component targets), without duplicates."""
    minors = sorted({".".join(v.split(".")[:2]) for v in all_versions()}, key=lambda v: tuple(map(int, v.split("."))))
    supported = [v for v in minors if tuple(map(int, v.split("."))) >= (1, 31)]
    return sorted({supported[0], supported[-1]}, key=lambda v: tuple(map(int, v.split("."))))


def validate_builtin(manifest: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(manifest, version, strict=True)


def strictify(schema: Any) -> Any:
    """Reject unknown fields, as the API server's strict field validation does."""
    if isinstance(schema, list):
        return [strictify(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("allOf", "anyOf", "oneOf", "not"):
            out[key] = value  # branches may declare partial `properties`: leave them alone
        elif key == "properties":
            out[key] = {name: strictify(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = strictify(value)
        else:
            out[key] = value
    if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Fill `default`s into `value` (a copy), recursively, before validation."""
    value = copy.deepcopy(value)
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in schema["properties"].items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value = [apply_defaults(schema["items"], item) for item in value]
    return value


@functools.cache
def _crd_validator(gvk: str) -> tuple[dict[str, Any], jsonschema.Draft7Validator]:
    index = json.loads((CRDS / "index.json").read_text())
    raw = json.loads((CRDS / index[STAND_INS.get(gvk, gvk)]).read_text())
    return raw, jsonschema.Draft7Validator(strictify(raw), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def has_crd_schema(api_version: str, kind: str) -> bool:
    gvk = f"{api_version}/{kind}"
    index = json.loads((CRDS / "index.json").read_text())
    return STAND_INS.get(gvk, gvk) in index


def validate_custom(manifest: dict[str, Any]) -> list[str]:
    """Errors of a custom resource against its CRD schema (strict), as readable strings."""
    gvk = f"{manifest['apiVersion']}/{manifest['kind']}"
    raw, validator = _crd_validator(gvk)
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in validator.iter_errors(apply_defaults(raw, manifest))]
    # CRD schemas leave metadata open; check it the way the API server's ObjectMeta would.
    unknown = set(manifest.get("metadata", {})) - METADATA_KEYS
    if unknown:
        errors.append(f"metadata: unexpected keys {sorted(unknown)}")
    if not manifest.get("metadata", {}).get("name"):
        errors.append("metadata.name: required")
    return errors


HELM = REPO.parent / "shared" / "schemas" / "helm"


def merge_values(defaults: Any, overrides: Any) -> Any:
    """Helm's merge of user values over a chart's defaults: maps merge key by key, anything else replaces."""
    if isinstance(defaults, dict) and isinstance(overrides, dict):
        merged = dict(defaults)
        for key, value in overrides.items():
            merged[key] = merge_values(defaults.get(key), value) if key in defaults else value
        return merged
    return copy.deepcopy(overrides)


def chart_defaults(chart: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((HELM / chart / "values.yaml").read_text()) or {}


def validate_helm_values(chart: str, values: dict[str, Any]) -> list[str]:
    """Errors of a release's `values`, merged over the chart's defaults (../shared/schemas/helm/<chart>), against the
    chart's `values.schema.json` where the chart ships one (as `helm install` checks them); [] for charts without."""
    schema_path = HELM / chart / "values.schema.json"
    if not (HELM / chart / "values.yaml").exists():
        return [f"no chart defaults for {chart!r} under {HELM}"]
    merged = merge_values(chart_defaults(chart), values)
    if not schema_path.exists():
        return []
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(merged)]


def unknown_values_keys(chart: str, values: Any, defaults: Any = None, path: str = "") -> list[str]:
    """Keys of `values` that the chart's `values.yaml` does not have, recursively (for charts that ship no
    values.schema.json, e.g. ingress-nginx: a misspelled key would be silently ignored by Helm). Below a key whose
    default is an empty map (`annotations: {}`, `config: {}`) or not a map, anything goes: those are free-form."""
    if path == "" and defaults is None:
        import yaml

        defaults = yaml.safe_load((REPO.parent / "shared" / "schemas" / "helm" / chart / "values.yaml").read_text())
    if not isinstance(values, dict) or not isinstance(defaults, dict) or not defaults:
        return []
    errors: list[str] = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in defaults:
            errors.append(f"{where}: not in {chart}'s values.yaml")
        else:
            errors.extend(unknown_values_keys(chart, value, defaults[key], where))
    return errors
