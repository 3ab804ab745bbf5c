"""Workload files and the seeded customer-support workload generator."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from agent.pipeline.planner import ORDER_TOOL, PROFILE_TOOL, ToolPlanner
from agent.tools import DemoAccounts, OrderStatusTool, ToolRegistry, UserProfileTool
from agent.types import Message
from bench.load.workload import (
    CATEGORIES,
    Mix,
    WorkloadError,
    WorkloadItem,
    default_workload_path,
    make_workload,
    make_workload_cli,
    mix_of,
    read_workload,
    write_workload,
)
from bench.load.workload_sources import WorkloadSources
from cache.guards import hit_allowed
from cache.normalize import normalize_text
from router.rules import RuleRouter


@pytest.fixture(scope="module")
def sources() -> WorkloadSources:
    return WorkloadSources.load_default()


@pytest.fixture(scope="module")
def items(sources: WorkloadSources) -> list[WorkloadItem]:
    return make_workload(n=1000, seed=7, sources=sources)


def _cacheable(item: WorkloadItem) -> bool:
    return item.session is None and item.kind != "realtime"


class TestWorkloadFile:
    def test_write_then_read_round_trips(self, tmp_path, items):
        path = tmp_path / "w.jsonl"
        write_workload(items, path)
        assert read_workload(path) == items

    def test_optional_fields_default_when_left_out(self, tmp_path):
        path = tmp_path / "w.jsonl"
        path.write_text('{"id": "a", "message": "Hi"}\n\n{"id": "b", "message": "Bye"}\n')
        first, second = read_workload(path)
        assert first == WorkloadItem("a", "Hi", "faq", None, None, None, None)
        assert second.id == "b"

    @pytest.mark.parametrize(
        ("bad_line", "complaint"),
        [
            ('{"id": "c", "message": ', "truncated"),
            ('{"id": "c", "message": "x", "colour": "red"}', "unknown field"),
            ('{"id": "c", "message": "x", "kind": "gossip"}', "kind"),
            ('{"id": "c", "message": ""}', "message"),
            ('{"id": "a", "message": "again"}', "duplicate id"),
        ],
    )
    def test_bad_line_error_names_file_and_line(self, tmp_path, bad_line, complaint):
        path = tmp_path / "w.jsonl"
        path.write_text(f'{{"id": "a", "message": "Hi"}}\n\n{bad_line}\n')
        with pytest.raises(WorkloadError) as caught:
            read_workload(path)
        assert f"{path}:3:" in str(caught.value)
        assert complaint in str(caught.value).lower()

    def test_empty_file_is_an_error(self, tmp_path):
        path = tmp_path / "w.jsonl"
        path.write_text("\n")
        with pytest.raises(WorkloadError, match="no requests"):
            read_workload(path)

    def test_shipped_default_workload_is_the_generators_output(self, tmp_path, items):
        path = tmp_path / "w.jsonl"
        write_workload(items, path)
        assert default_workload_path().read_bytes() == path.read_bytes()


class TestMix:
    def test_parse_sets_unnamed_categories_to_zero(self):
        mix = Mix.parse("exact=3, multi-turn=1")
        assert mix.shares() == {name: 0.0 for name in CATEGORIES} | {
            "exact": 0.75,
            "multi_turn": 0.25,
        }

    @pytest.mark.parametrize("text", ["exact", "sarcasm=0.5", "exact=-1", "exact=0", "exact=x"])
    def test_parse_rejects_bad_text(self, text):
        with pytest.raises(ValueError):
            Mix.parse(text)

    def test_counts_sum_to_n(self):
        counts = Mix().counts(997)
        assert sum(counts.values()) == 997
        assert counts["exact"] == 299


class TestMakeWorkload:
    def test_same_seed_gives_byte_identical_files(self, tmp_path, sources, items):
        write_workload(items, tmp_path / "a.jsonl")
        write_workload(make_workload(n=1000, seed=7, sources=sources), tmp_path / "b.jsonl")
        assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()

    def test_other_seed_gives_other_workload(self, sources, items):
        other = make_workload(n=1000, seed=8, sources=sources)
        assert [i.message for i in other] != [i.message for i in items]

    def test_produced_shares_match_the_requested_mix(self, sources, items):
        produced = mix_of(items).shares()
        for name, share in Mix().shares().items():
            assert produced[name] == pytest.approx(share, abs=0.01), name
        custom = Mix.parse("exact=0.4,realtime=0.2,multi-turn=0.3,technical=0.1")
        produced = mix_of(make_workload(n=500, seed=1, mix=custom, sources=sources)).shares()
        for name, share in custom.shares().items():
            assert produced[name] == pytest.approx(share, abs=0.02), name

    def test_ids_are_unique_and_in_file_order(self, items):
        assert [i.id for i in items] == [f"w{n:05d}" for n in range(1, 1001)]

    def test_hints_follow_only_from_earlier_lines(self, items):
        asked: set[str] = set()
        mates: dict[str, list[str]] = defaultdict(list)
        for item in items:
            key = normalize_text(item.message)
            if item.expect_cache == "exact":
                assert key in asked, item
            elif item.expect_cache == "semantic":
                assert key not in asked, item
                assert item.group is not None
                assert any(hit_allowed(item.message, m) for m in mates[item.group]), item
            else:
                assert item.expect_cache == "none"
                assert not _cacheable(item) or key not in asked, item
            if _cacheable(item):
                asked.add(key)
                if item.group is not None:
                    mates[item.group].append(item.message)

    def test_every_category_and_hint_occurs(self, items):
        assert {i.expect_cache for i in items} == {"exact", "semantic", "none"}
        assert {i.kind for i in items} == {"faq", "realtime", "technical", "chit-chat"}
        groups = {i.group for i in items if i.expect_cache == "semantic"}
        assert any(g.startswith("kb-") for g in groups)
        assert any(g.startswith("b77-") for g in groups)

    def test_realtime_items_belong_to_demo_users_and_call_a_live_tool(self, items):
        accounts = DemoAccounts.load_default()
        registry = ToolRegistry(
            [OrderStatusTool(accounts), UserProfileTool(accounts)], allowed_risky=[PROFILE_TOOL]
        )
        planner = ToolPlanner(registry)
        realtime = [i for i in items if i.kind == "realtime"]
        assert len(realtime) >= 100
        for item in realtime:
            assert item.expect_cache == "none"
            assert item.user_id is not None
            assert accounts.user(item.user_id) is not None
            plan = planner.plan(item.message, item.user_id)
            assert plan.personal, item
            for call in plan.calls:
                if call.name == ORDER_TOOL:
                    order = accounts.order(call.args["order_id"])
                    assert order is not None and order.user_id == item.user_id, item

    def test_sessions_have_two_to_four_turns_of_one_user(self, items):
        sessions: dict[str, list[tuple[int, WorkloadItem]]] = defaultdict(list)
        for line, item in enumerate(items):
            if item.session is not None:
                sessions[item.session].append((line, item))
        assert len(sessions) >= 20
        assert list(sessions) == [f"s{n:04d}" for n in range(1, len(sessions) + 1)]
        openers = set()
        for turns in sessions.values():
            assert 2 <= len(turns) <= 4
            assert turns[0][1].kind == "realtime"
            openers.add(turns[0][1].message)
            assert len({item.user_id for _, item in turns}) == 1
            assert all(item.expect_cache == "none" for _, item in turns)
            # Interleaved with other traffic, but the conversation keeps going.
            gaps = [b - a for (a, _), (b, _) in itertools.pairwise(turns)]
            assert all(1 <= gap <= 8 for gap in gaps), gaps
        assert len(openers) == len(sessions)

    @pytest.mark.anyio
    async def test_technical_items_route_strong_and_the_rest_cheap(self, items):
        router = RuleRouter(cheap_model="cheap", strong_model="strong")
        technical = 0
        for item in items:
            if item.kind == "realtime":
                continue
            decision = await router.route([Message("user", item.message)])
            expected = "strong" if item.kind == "technical" else "cheap"
            assert decision.tier == expected, (item, decision.reason)
            technical += item.kind == "technical"
        assert technical >= 100

    def test_without_unique_questions_nothing_can_repeat_at_first(self, sources):
        made = make_workload(n=50, seed=3, mix=Mix.parse("exact=1"), sources=sources)
        assert made[0].expect_cache == "none"
        assert sum(i.expect_cache == "exact" for i in made) == 49

    def test_zero_lines(self, sources):
        assert make_workload(n=0, seed=1, sources=sources) == []


class TestCli:
    def test_writes_the_workload_and_prints_the_mix(self, tmp_path, capsys):
        out = tmp_path / "w.jsonl"
        args = ["--make-workload", str(out), "--n", "200", "--seed", "3"]
        assert make_workload_cli([*args, "--mix", "exact=0.5,unique=0.5"]) == 0
        made = read_workload(out)
        assert len(made) == 200
        line = capsys.readouterr().out.strip()
        assert line.startswith(f"wrote 200 requests (0 sessions) to {out}")
        assert "exact 50.0%" in line
        assert "unique 50.0%" in line

    def test_rejects_a_bad_mix(self, tmp_path, capsys):
        with pytest.raises(SystemExit) as caught:
            make_workload_cli([str(tmp_path / "w.jsonl"), "--mix", "exact=lots"])
        assert caught.value.code == 2
        assert "--mix" in capsys.readouterr().err
