"""Shared guard for XML rate payloads: refuse HTML and broken documents with a clear message."""

from __future__ import annotations

import re

from lxml import etree

from corridor.rates.model import RatePayloadError

_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html)", re.IGNORECASE)
_TITLE = re.compile(rb"<title>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)


def looks_like_html(payload: bytes) -> bool:
    return bool(_HTML_START.match(payload[:512]))


def html_summary(payload: bytes) -> str:
    title = _TITLE.search(payload[:4096])
    return f"an HTML page (title {title.group(1).decode('utf-8', 'replace')!r})" if title else "an HTML page"


def parse_xml(source: str, payload: bytes, expected_root: str) -> etree._Element:
    """Parse ``payload`` and check its root element's local name; every failure is a RatePayloadError."""
    if not payload.strip():
        raise RatePayloadError(source, "empty response")
    if looks_like_html(payload):
        raise RatePayloadError(source, f"got {html_summary(payload)} instead of rate XML")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(payload, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise RatePayloadError(source, f"not well-formed XML: {exc}") from exc
    local_name = etree.QName(root).localname
    if local_name != expected_root:
        raise RatePayloadError(source, f"root element is <{local_name}>, expected <{expected_root}>")
    return root
