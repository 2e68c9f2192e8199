"""The one reconcile loop behind `reconcile_broadcasts --loop` and `run_platform`."""

import logging

from streams import services
from streams.management.commands.reconcile_broadcasts import reconcile_loop


def test_a_failed_round_is_logged_and_the_next_one_still_runs(db, monkeypatch, caplog):
    results = iter([RuntimeError("database gone"), 2])
    rounds = []

    def reconcile() -> int:
        rounds.append(1)
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(services, "broadcasts_reconcile", reconcile)
    with caplog.at_level(logging.INFO):
        reconcile_loop(interval=0, keep_going=lambda: len(rounds) < 2)

    assert len(rounds) == 2
    assert "reconciling broadcasts failed; will retry" in caplog.text
    assert "ended 2 lost broadcast(s)" in caplog.text


def test_the_loop_stops_between_rounds_when_asked(db, monkeypatch):
    rounds = []
    monkeypatch.setattr(services, "broadcasts_reconcile", lambda: rounds.append(1) or 0)

    # A long interval, cut short by keep_going turning false: no third round, no long wait.
    answers = iter([True, False])
    reconcile_loop(interval=3600, keep_going=lambda: next(answers, False))

    assert rounds == [1]
