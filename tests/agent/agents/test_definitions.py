"""Agent definitions read from TOML: paths, secrets, checks, the bundled demo, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.agents import SUPPORT_AGENT_FILE, Toolbox, blueprint, bundled_support
from agent.agents.spec import AgentSpec
from agent.pipeline import DEFAULT_SYSTEM_PROMPT
from server.config import ConfigError, load_settings

AGENTS_TOML = """
[agents]
default = "shop"
tenant_defaults = {beta = "support"}
include = ["{support}"]

[[agents.definitions]]
name = "shop"
prompt_file = "prompts/shop.md"
model = "gpt-4o-mini"
tools = ["orders"]
limits = {max_iterations = 5, max_tool_calls = 3, tool_timeout_s = 0.5}

[[agents.http_tools]]
name = "orders"
description = "Order status by order id"
url = "http://127.0.0.1:9/orders/{order_id}"
headers = {Authorization = "Bearer ${SHOP_TOKEN}"}
parameters = {type = "object", properties = {order_id = {type = "string"}}}
"""


def write_config(tmp_path: Path, text: str = AGENTS_TOML) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "shop.md").write_text("You sell wool sweaters.\n")
    path = tmp_path / "frugal.toml"
    path.write_text(text.replace("{support}", str(SUPPORT_AGENT_FILE)))
    return path


class TestLoading:
    def test_agents_paths_secrets_and_includes(self, tmp_path: Path) -> None:
        path = write_config(tmp_path)
        agents = load_settings({"SHOP_TOKEN": "s3cret"}, config_file=path).agents
        assert [d.name for d in agents.definitions] == ["shop", "support"]
        shop = agents.definitions[0]
        assert shop.prompt_file == str(tmp_path / "prompts" / "shop.md")
        assert (shop.limits.max_iterations, shop.limits.tool_timeout_s) == (5, 0.5)
        assert agents.http_tools[0].headers == {"Authorization": "Bearer s3cret"}
        assert agents.default_name == "shop"
        assert agents.tenant_defaults == {"beta": "support"}
        # The included demo's relative paths are relative to its own file.
        faq = next(k for k in agents.knowledge_bases if k.name == "acme-faq")
        assert faq.paths == (str(SUPPORT_AGENT_FILE.parent / "faq.json"),)

    def test_a_missing_secret_names_the_variable(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="SHOP_TOKEN is not set"):
            load_settings({}, config_file=write_config(tmp_path))

    def test_an_unknown_knowledge_base_is_refused(self, tmp_path: Path) -> None:
        text = AGENTS_TOML.replace('tools = ["orders"]', 'knowledge_bases = ["nope"]')
        with pytest.raises(ConfigError, match="knowledge_bases"):
            load_settings({"SHOP_TOKEN": "x"}, config_file=write_config(tmp_path, text))

    def test_an_unknown_field_is_refused(self, tmp_path: Path) -> None:
        text = AGENTS_TOML.replace('model = "gpt-4o-mini"', 'modle = "gpt-4o-mini"')
        with pytest.raises(ConfigError, match="modle"):
            load_settings({"SHOP_TOKEN": "x"}, config_file=write_config(tmp_path, text))

    def test_agents_are_toml_only(self) -> None:
        with pytest.raises(ConfigError, match="TOML file only"):
            load_settings({"FRUGAL_AGENTS_DEFAULT": "x"})

    def test_the_bundled_demo_is_the_zero_config_default(self) -> None:
        assert load_settings({}).agents.definitions == ()
        demo = bundled_support()
        (support,) = demo.definitions
        assert (support.name, support.planner) == ("support", "rules")
        assert support.prompt_file is not None
        prompt = Path(support.prompt_file).read_text().strip()
        assert prompt == DEFAULT_SYSTEM_PROMPT
        assert {t.name for t in demo.builtin_tools} == {"order_status", "user_profile"}


class TestVersion:
    def test_version_changes_with_the_prompt_and_only_then(self) -> None:
        box = Toolbox()
        first = blueprint(AgentSpec("a", prompt="one"), box, allowed_risky=(), max_iterations=4)
        same = blueprint(AgentSpec("a", prompt="one"), box, allowed_risky=(), max_iterations=4)
        other = blueprint(AgentSpec("a", prompt="two"), box, allowed_risky=(), max_iterations=4)
        assert first.profile.version == same.profile.version != other.profile.version
        assert first.profile.cache_partition == f"|agent=a@{first.profile.version}"

    def test_an_unknown_tool_is_named(self) -> None:
        with pytest.raises(ValueError, match="'missing'"):
            blueprint(
                AgentSpec("a", tools=("missing",)), Toolbox(), allowed_risky=(), max_iterations=4
            )
