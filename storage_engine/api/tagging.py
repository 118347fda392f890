"""Object tagging: Put/Get/DeleteObjectTagging (at most 10 tags; keys <= 128, values <= 256 characters)."""

from __future__ import annotations

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, version_headers, xml_response
from storage_engine.api.meta import validate_tags
from storage_engine.api.object import version_id_param
from storage_engine.api.xml import XmlWriter, parse_xml
from storage_engine.errors import MalformedXML
from storage_engine.http.types import Response

MAX_TAGGING_BODY = 64 * 1024


def parse_tagging(data: bytes) -> dict[str, str]:
    """``<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>`` -> validated tags."""
    root = parse_xml(data, "Tagging", MAX_TAGGING_BODY)
    tag_set = root.find("TagSet")
    if tag_set is None:
        raise MalformedXML()
    pairs: list[tuple[str, str]] = []
    for tag in tag_set.findall("Tag"):
        key, value = tag.findtext("Key"), tag.findtext("Value")
        if key is None or value is None:
            raise MalformedXML()
        pairs.append((key, value))
    return validate_tags(pairs)


def render_tagging(tags: dict[str, str]) -> bytes:
    w = XmlWriter("Tagging")
    w.open("TagSet")
    for key, value in tags.items():
        w.open("Tag")
        w.elem("Key", key)
        w.elem("Value", value)
        w.close("Tag")
    w.close("TagSet")
    return w.finish()


async def handle_put_object_tagging(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    tags = parse_tagging(await read_small_body(req.body, ctx.headers, MAX_TAGGING_BODY))
    info = await ctx.layer.put_object_tags(ctx.bucket, ctx.key, version_id_param(ctx.query), tags)
    return Response(status=200, headers=version_headers(info.version_id))


async def handle_get_object_tagging(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    info = await ctx.layer.get_object_info(ctx.bucket, ctx.key, version_id_param(ctx.query))
    return xml_response(render_tagging(info.tags), headers=version_headers(info.version_id))


async def handle_delete_object_tagging(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    info = await ctx.layer.delete_object_tags(ctx.bucket, ctx.key, version_id_param(ctx.query))
    return Response(status=204, headers=version_headers(info.version_id))
