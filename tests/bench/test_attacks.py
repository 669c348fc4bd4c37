"""The attacks benchmark's own logic: its raw HTTP, its hostile bodies and its report."""

import asyncio
import json

from bench.attacks import AttackResult, markdown_table
from bench.hostile_clients import lone_surrogate_requests, read_answer, short_words


def _result(attack: str, **overrides: object) -> AttackResult:
    fields: dict[str, object] = {
        "attack": attack,
        "legit_statuses": {"200": 90, "ReadTimeout": 2},
        "legit_per_s": 4.5,
        "legit_alone_per_s": None,
        "legit_p50_ms": 120.4,
        "legit_p99_ms": 9114.6,
        "live_statuses": {"200": 40},
        "live_p99_ms": 80.0,
        "live_max_ms": 10002.3,
        "rss_before_mb": 1744.2,
        "rss_peak_mb": 2654.0,
        "rss_after_mb": 1750.4,
        "attacker_got": {"408": 140, "open at the end": 70},
        "details": {},
        "server_restarted_before": False,
    }
    return AttackResult(**(fields | overrides))  # type: ignore[arg-type]


def test_table_gives_one_row_per_attack_and_the_keyed_share_of_its_throughput_alone() -> None:
    table = markdown_table(
        [
            _result("slow-body-70"),
            _result(
                "unauthorized-flood", legit_per_s=2.5, legit_alone_per_s=16.7, server_restarted_before=True
            ),
        ]
    )
    rows = table.splitlines()
    assert len(rows) == 4
    assert rows[2] == (
        "| slow-body-70 | 200 x90, ReadTimeout x2 | 4.5 | 120 / 9115 | 80 / 10002 | 1744 | 2654 | 1750 "
        "| 408 x140, open at the end x70 |"
    )
    assert rows[3].startswith(
        "| unauthorized-flood (restarted) | 200 x90, ReadTimeout x2 | 2.5 (15% of 16.7 alone) |"
    )


def test_table_shows_a_dash_where_no_legitimate_request_was_answered() -> None:
    row = markdown_table([_result("slow-body-70", legit_p50_ms=None, legit_p99_ms=None)]).splitlines()[2]
    assert "| - / - |" in row


def test_short_words_hold_one_mask_and_stay_within_the_length() -> None:
    text = short_words(99_000)
    assert 98_000 < len(text) <= 99_000
    assert text.count("[MASK]") == 1
    assert max(len(word) for word in text.split()) == len("[MASK]")


def test_lone_surrogates_travel_as_the_json_escape_on_every_route() -> None:
    bodies = lone_surrogate_requests("bert")
    assert "/v2/models/bert/infer" in bodies and "/v1/models/bert:predict" in bodies
    for body in bodies.values():
        raw = json.dumps(body).encode()
        assert b"\\ud800" in raw
        raw.decode("ascii")  # the escape, not the (unencodable) character


def test_read_answer_reads_the_body_its_content_length_announces() -> None:
    async def answer() -> tuple[str, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(b'HTTP/1.1 413 Content Too Large\r\ncontent-length: 5\r\n\r\n{"a"}HTTP/1.1 200 OK')
        return await read_answer(reader)

    assert asyncio.run(answer()) == ("413", b'{"a"}')
