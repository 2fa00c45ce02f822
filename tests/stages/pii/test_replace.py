from __future__ import annotations

from fineweb_pipe.stages.pii.entities import Detection
from fineweb_pipe.stages.pii.replace import (FINEWEB_EMAILS, FINEWEB_IPV4, FINEWEB_IPV6, Policy, Replacer,
                                             is_public_ip, keep_detection, resolve_overlaps)


def test_higher_score_wins_an_overlap_then_the_longer_span():
    card = Detection(10, 26, "CREDIT_CARD", 1.0)
    phone_inside = Detection(14, 26, "PHONE_NUMBER", 0.4)
    email = Detection(30, 50, "EMAIL_ADDRESS", 0.8)
    user_in_email = Detection(30, 38, "EMPLOYEE_ID", 0.8)
    apart = Detection(60, 70, "US_SSN", 0.5)
    assert resolve_overlaps([phone_inside, user_in_email, apart, card, email]) == [card, email, apart]


def test_overlapping_detections_of_one_type_become_their_union():
    # phonenumbers' whole "079 0442 1744" and a shape's "079 0442" of "Call me on 079 0442 1744".
    whole, part = Detection(11, 24, "PHONE_NUMBER", 0.4), Detection(11, 19, "PHONE_NUMBER", 1.0)
    assert resolve_overlaps([part, whole]) == [Detection(11, 24, "PHONE_NUMBER", 1.0)]
    # Neither inside the other: still one number.
    left, right = Detection(0, 8, "PHONE_NUMBER", 0.4), Detection(4, 13, "PHONE_NUMBER", 0.4)
    assert resolve_overlaps([right, left]) == [Detection(0, 13, "PHONE_NUMBER", 0.4)]
    # Of different types, the higher score still wins alone.
    card = Detection(0, 19, "CREDIT_CARD", 1.0)
    assert resolve_overlaps([left, right, card]) == [card]


def test_touching_spans_both_kept():
    a, b = Detection(0, 5, "A", 0.5), Detection(5, 9, "B", 0.5)
    assert resolve_overlaps([b, a]) == [a, b]


def test_private_and_reserved_ips_are_kept_public_ones_scrubbed():
    for private in ("192.168.1.10", "10.0.0.1", "127.0.0.1", "172.16.5.4", "::1", "fe80::1%eth0", "0.0.0.0"):
        assert not is_public_ip(private), private
    for public in ("8.8.8.8", "172.61.42.192", "2606:4700:4700::1111", "8.8.8.0/24"):
        assert is_public_ip(public), public
    text = "lan 192.168.1.10 wan 8.8.8.8"
    lan, wan = Detection(4, 16, "IP_ADDRESS", 0.6), Detection(21, 28, "IP_ADDRESS", 0.6)
    assert not keep_detection(lan, text, keep_private_ips=True)
    assert keep_detection(wan, text, keep_private_ips=True)
    assert keep_detection(lan, text, keep_private_ips=False)


def test_fineweb_policy_uses_fineweb_placeholders_deterministically():
    replacer = Replacer(Policy.FINEWEB)
    assert replacer.replacement("EMAIL_ADDRESS", "jane@corp.io") in FINEWEB_EMAILS
    assert replacer.replacement("IP_ADDRESS", "8.8.8.8") in FINEWEB_IPV4
    assert replacer.replacement("IP_ADDRESS", "2606:4700::1111") == FINEWEB_IPV6
    assert replacer.replacement("PHONE_NUMBER", "555-0100") == "<PHONE_NUMBER>"
    assert replacer.replacement("EMAIL_ADDRESS", "jane@corp.io") == Replacer(Policy.FINEWEB).replacement(
        "EMAIL_ADDRESS", "jane@corp.io")


def test_tag_and_hash_policies():
    assert Replacer(Policy.TAG).replacement("US_SSN", "078-05-1121") == "<US_SSN>"
    hashed = Replacer(Policy.HASH, hash_salt="s1")
    first = hashed.replacement("EMAIL_ADDRESS", "a@b.com")
    assert first.startswith("<EMAIL_ADDRESS:") and first.endswith(">") and len(first) == len("<EMAIL_ADDRESS:>") + 16
    assert first == hashed.replacement("EMAIL_ADDRESS", "a@b.com")
    assert first != hashed.replacement("EMAIL_ADDRESS", "c@b.com")
    assert first != Replacer(Policy.HASH, hash_salt="s2").replacement("EMAIL_ADDRESS", "a@b.com")


def test_apply_keeps_text_outside_spans_identical():
    text = "Ünïcode 👋 before a@b.com middle 8.8.8.8 after\n"
    spans = [Detection(text.index("a@b"), text.index("a@b") + 7, "EMAIL_ADDRESS", 1.0),
             Detection(text.index("8.8"), text.index("8.8") + 7, "IP_ADDRESS", 0.6)]
    out = Replacer(Policy.TAG).apply(text, spans)
    assert out == "Ünïcode 👋 before <EMAIL_ADDRESS> middle <IP_ADDRESS> after\n"
