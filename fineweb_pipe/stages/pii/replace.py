"""What happens to a detected entity: which detections count, how overlaps resolve, what replaces them.

Text outside the kept detections is copied unchanged, slice by slice, so the rest of a document is
byte-identical after scrubbing.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from enum import Enum

from fineweb_pipe.stages.pii import entities as ent
from fineweb_pipe.stages.pii.entities import Detection

# FineWeb's placeholders (datatrove's PIIFormatter defaults): example.com/org are reserved for examples;
# the IPv4 addresses are the fixed list datatrove draws from.
FINEWEB_EMAILS = ("email@example.com", "firstname.lastname@example.org")
FINEWEB_IPV4 = ("22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206", "220.127.116.11",
                "18.104.22.168")
# FineWeb leaves IPv6 alone; ours go to the documentation prefix (RFC 3849), never routed.
FINEWEB_IPV6 = "2001:db8::1"
HASH_HEX_CHARS = 16


class Policy(str, Enum):
    """How detected entities are written back."""

    FINEWEB = "fineweb"  # FineWeb's placeholders for emails and IPs; a typed tag for other types
    TAG = "tag"  # <EMAIL_ADDRESS>
    HASH = "hash"  # <EMAIL_ADDRESS:1f3a...>: equal values stay equal, without being readable
    ANNOTATE = "annotate"  # text unchanged; spans and types go to annotation columns


def is_public_ip(value: str) -> bool:
    """True for a globally routable address (``/prefix`` allowed); private, loopback, reserved: False."""
    try:
        return ipaddress.ip_interface(value.split("%")[0]).ip.is_global
    except ValueError:
        return False


def keep_detection(detection: Detection, text: str, keep_private_ips: bool) -> bool:
    """Whether a detection is scrubbed: FineWeb leaves private and reserved IP addresses alone."""
    if keep_private_ips and detection.entity_type == ent.IP_ADDRESS:
        return is_public_ip(text[detection.start:detection.end])
    return True


def merge_same_type(detections: Sequence[Detection]) -> list[Detection]:
    """Overlapping detections of one type are one entity: each group becomes its union, at its best score
    (phonenumbers' "079 0442 1744" and a shape's "079 0442" are one phone number, replaced whole)."""
    merged: list[Detection] = []
    for d in sorted(detections, key=lambda d: (d.entity_type, d.start, d.end)):
        last = merged[-1] if merged else None
        if last is not None and last.entity_type == d.entity_type and d.start < last.end:
            merged[-1] = Detection(last.start, max(last.end, d.end), d.entity_type, max(last.score, d.score))
        else:
            merged.append(d)
    return merged


def resolve_overlaps(detections: Sequence[Detection]) -> list[Detection]:
    """Non-overlapping detections, in text order.

    Overlapping detections of one type first become their union (``merge_same_type``). Where spans of
    different types overlap the higher score wins (a Luhn-checked card beats the phone number its digits
    also spell), then the longer span (an email beats a user pattern matching its local part), then the
    earlier one.
    """
    ranked = sorted(merge_same_type(detections), key=lambda d: (-d.score, -(d.end - d.start), d.start))
    chosen: list[Detection] = []
    for detection in ranked:
        if all(detection.end <= c.start or detection.start >= c.end for c in chosen):
            chosen.append(detection)
    return sorted(chosen, key=lambda d: d.start)


def _pick(options: Sequence[str], value: str) -> str:
    # Deterministic (unlike datatrove's rotation), so a rerun writes the same bytes.
    digest = hashlib.blake2b(value.encode("utf-8"), digest_size=4).digest()
    return options[int.from_bytes(digest, "little") % len(options)]


class Replacer:
    """Turns a detection into its replacement text under one policy."""

    def __init__(self, policy: Policy, hash_salt: str = "") -> None:
        if policy is Policy.ANNOTATE:
            raise ValueError("the annotate policy replaces nothing; do not build a Replacer for it")
        self.policy = policy
        self._salt = hash_salt.encode("utf-8")

    def replacement(self, entity_type: str, value: str) -> str:
        if self.policy is Policy.HASH:
            digest = hashlib.blake2b(value.encode("utf-8"), key=self._salt[:64], digest_size=HASH_HEX_CHARS // 2)
            return f"<{entity_type}:{digest.hexdigest()}>"
        if self.policy is Policy.FINEWEB:
            if entity_type == ent.EMAIL_ADDRESS:
                return _pick(FINEWEB_EMAILS, value)
            if entity_type == ent.IP_ADDRESS:
                return FINEWEB_IPV6 if ":" in value else _pick(FINEWEB_IPV4, value)
        return f"<{entity_type}>"

    def apply(self, text: str, detections: Sequence[Detection]) -> str:
        """``text`` with each of the (non-overlapping, ordered) ``detections`` replaced."""
        pieces: list[str] = []
        cursor = 0
        for d in detections:
            pieces += [text[cursor:d.start], self.replacement(d.entity_type, text[d.start:d.end])]
            cursor = d.end
        pieces.append(text[cursor:])
        return "".join(pieces)
