"""The event-type tables every provider declares: how they read, and a typo refused at import."""

from __future__ import annotations

import pytest

from mailsdk.webhooks import PROVIDERS, _common, _module


def test_a_table_reads_kind_by_kind_with_hard_and_soft_bounces() -> None:
    table = _common.kinds("delivered: sent; hard: bounce, bad; soft: soft bounce; other: x")
    assert table == {
        "sent": ("delivered", None),
        "bounce": ("bounced", "hard"),
        "bad": ("bounced", "hard"),
        "soft bounce": ("bounced", "soft"),
        "x": ("other", None),
    }


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event kind 'deliverd'"):
        _common.kinds("deliverd: sent")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_provider_declares_one_record(provider: str) -> None:
    record = _module(provider).WEBHOOK
    assert callable(record.parse)
    if isinstance(record, _common.Webhook):
        assert record.provider == provider
        assert record.kinds
        assert all(kind[0] != "other" or kind[1] is None for kind in record.kinds.values())
