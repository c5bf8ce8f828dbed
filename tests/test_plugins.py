"""Plugin discovery and isolation, with real distributions found through importlib.metadata."""

from __future__ import annotations

import pytest

from hub import CONTRACT_VERSION, __version__
from hub.errors import AmbiguousComponent, ComponentNotFound, PluginError
from hub.plugins import load_hub

from .conftest import GOOD_PLUGIN


def _info(hub, name):
    return next(p for p in hub.plugins if p.name == name)


def test_good_plugin_is_discovered_from_its_distribution(plugin_dir):
    plugin_dir("tiny", GOOD_PLUGIN, dist_name="hubtest-tiny", version="2.3.4")
    hub = load_hub()
    info = _info(hub, "tiny")
    assert (info.status, info.error) == ("ok", None)
    assert (info.distribution, info.version, info.contract) == ("hubtest-tiny", "2.3.4", ">=1.0,<2")
    assert info.components == ["backbone:tiny-cnn", "head:linear"]
    backbone = hub.registry.get("backbone", "tiny-cnn")
    assert backbone.plugin == "tiny" and backbone.spec.feature_dim == 16


def test_first_party_plugins_load_ok():
    hub = load_hub()
    status = {p.name: p.status for p in hub.plugins}
    assert status.get("common") == "ok" and status.get("vision") == "ok", status
    assert hub.registry.get("task", "image-classification").plugin == "common"


def test_import_error_marks_only_that_plugin_broken(plugin_dir):
    plugin_dir("tiny", GOOD_PLUGIN)
    plugin_dir("bad-import", "import not_a_real_module_xyz\n")
    hub = load_hub()
    bad = _info(hub, "bad-import")
    assert bad.status == "broken"
    assert "import of 'hubtest_bad_import' failed: ModuleNotFoundError" in bad.error
    assert _info(hub, "tiny").status == "ok"
    assert hub.registry.get("backbone", "tiny-cnn")


def test_hook_that_raises_drops_everything_the_plugin_registered(plugin_dir):
    plugin_dir("half", '''
        from hub.hookspecs import hookimpl
        from hub.specs import HeadSpec
        HUB_CONTRACT = ">=1.0"

        @hookimpl
        def register_heads(register):
            register(HeadSpec(name="half-head", factory="x.y:z"))

        @hookimpl
        def register_tasks(register):
            raise RuntimeError("boom in tasks")
    ''')
    hub = load_hub()
    info = _info(hub, "half")
    assert info.status == "broken"
    assert info.error == "hook register_tasks raised RuntimeError: boom in tasks"
    with pytest.raises(ComponentNotFound):
        hub.registry.get("head", "half-head")


@pytest.mark.parametrize("spec_code, expected", [
    ('BackboneSpec(name="b", factory="m.x:f", modality="image", input=ImageInput(), feature_dim=0)',
     "feature_dim must be a positive int"),
    ('BackboneSpec(name="Bad Name", factory="m.x:f", modality="image", input=ImageInput(), feature_dim=8)',
     "backbone name 'Bad Name' is invalid"),
    ('BackboneSpec(name="b", factory="not a ref", modality="image", input=ImageInput(), feature_dim=8)',
     "factory must be a callable or 'package.module:attr'"),
    ('BackboneSpec(name="b", factory="m.x:f", modality="audio", input=ImageInput(), feature_dim=8)',
     "modality 'audio' is not one of image, text"),
    ('BackboneSpec(name="b", factory="m.x:f", modality="image", input=ImageInput(), feature_dim=8,'
     ' weights=(WeightSource("hf", "org/repo", filename="w.safetensors", sha256="abc"),))',
     "sha256 'abc' is not 64 lowercase hex digits"),
    ('HeadSpec(name="h", factory="m.x:f")', "register_backbones got HeadSpec, expected hub.specs.BackboneSpec"),
])
def test_invalid_spec_marks_plugin_broken(plugin_dir, spec_code, expected):
    plugin_dir("invalid", f'''
        from hub.hookspecs import hookimpl
        from hub.specs import BackboneSpec, HeadSpec, ImageInput, WeightSource
        HUB_CONTRACT = ">=1.0,<2"

        @hookimpl
        def register_backbones(register):
            register({spec_code})
    ''')
    info = _info(load_hub(), "invalid")
    assert info.status == "broken"
    assert info.error.startswith("register_backbones registered an invalid spec")
    assert expected in info.error


def test_incompatible_contract_is_refused_with_range_and_version(plugin_dir):
    plugin_dir("future", 'HUB_CONTRACT = ">=2.0,<3"\n', dist_name="future-plugin", version="9.0")
    info = _info(load_hub(), "future")
    assert info.status == "broken"
    assert f"supports hub contract '>=2.0,<3', but zoohub {__version__} provides contract {CONTRACT_VERSION}" in info.error
    assert "future-plugin" in info.error


def test_missing_contract_declaration_is_refused(plugin_dir):
    plugin_dir("nocontract", "x = 1\n")
    info = _info(load_hub(), "nocontract")
    assert info.status == "broken" and "declares no contract range; add HUB_CONTRACT" in info.error
    import re

    from packaging.specifiers import SpecifierSet

    suggested = re.search(r"HUB_CONTRACT = '([^']+)'", info.error).group(1)
    assert CONTRACT_VERSION in SpecifierSet(suggested)  # the hint, pasted, loads on this hub


def test_unknown_hook_name_is_reported(plugin_dir):
    plugin_dir("typo", '''
        from hub.hookspecs import hookimpl
        HUB_CONTRACT = ">=1.0"

        @hookimpl
        def register_backbone(register):
            pass
    ''')
    info = _info(load_hub(), "typo")
    assert info.status == "broken" and "unknown hook 'register_backbone'" in info.error


def test_same_name_twice_in_one_plugin_is_broken(plugin_dir):
    plugin_dir("twice", '''
        from hub.hookspecs import hookimpl
        from hub.specs import HeadSpec
        HUB_CONTRACT = ">=1.0"

        @hookimpl
        def register_heads(register):
            register(HeadSpec(name="h", factory="a.b:c"))
            register(HeadSpec(name="h", factory="a.b:d"))
    ''')
    info = _info(load_hub(), "twice")
    assert info.status == "broken" and "registered head 'h' twice" in info.error


def test_duplicate_names_across_plugins_need_qualified_names(plugin_dir):
    plugin_dir("tiny", GOOD_PLUGIN)
    plugin_dir("tiny2", GOOD_PLUGIN.replace("hubtest_tiny.model", "hubtest_tiny2.model"))
    hub = load_hub()
    with pytest.raises(AmbiguousComponent) as err:
        hub.registry.get("backbone", "tiny-cnn")
    assert "tiny:tiny-cnn" in str(err.value) and "tiny2:tiny-cnn" in str(err.value)
    assert hub.registry.get("backbone", "tiny2:tiny-cnn").plugin == "tiny2"
    # 'linear' is also registered by the first-party common plugin
    with pytest.raises(AmbiguousComponent, match="common:linear"):
        hub.registry.get("head", "linear")


def test_strict_mode_makes_a_broken_plugin_fatal(plugin_dir, monkeypatch):
    plugin_dir("bad-import", "import not_a_real_module_xyz\n")
    with pytest.raises(PluginError, match=r"plugin 'bad-import' \(hubtest-bad-import 1.0.0\) is broken"):
        load_hub(strict=True)
    monkeypatch.setenv("HUB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="strict mode"):
        load_hub()


def test_disabled_plugins_are_not_imported(plugin_dir, monkeypatch):
    import sys

    plugin_dir("tiny", GOOD_PLUGIN)
    monkeypatch.setenv("HUB_DISABLE_PLUGINS", "tiny, other")
    hub = load_hub()
    assert _info(hub, "tiny").status == "disabled"
    assert "hubtest_tiny" not in sys.modules
    with pytest.raises(ComponentNotFound):
        hub.registry.get("backbone", "tiny-cnn")


def test_unknown_component_suggests_close_names(plugin_dir):
    plugin_dir("tiny", GOOD_PLUGIN)
    with pytest.raises(ComponentNotFound, match="did you mean 'tiny-cnn'"):
        load_hub().registry.get("backbone", "tiny-cn")


def test_glob_listing_matches_names_and_qualified_names(plugin_dir):
    plugin_dir("tiny", GOOD_PLUGIN)
    registry = load_hub().registry
    assert [c.name for c in registry.list("backbones", "tiny*")] == ["tiny-cnn"]
    assert {c.qualified_name for c in registry.list(None, "tiny:*")} == {"tiny:tiny-cnn", "tiny:linear"}
    assert registry.list("heads", "nothing*") == []


def test_a_lookup_that_misses_names_the_broken_plugin_and_why(plugin_dir):
    plugin_dir("shaky", '''
        from hub.hookspecs import hookimpl

        HUB_CONTRACT = ">=1.0,<2"

        @hookimpl
        def register_backbones(register):
            raise RuntimeError("weights index is corrupt")
    ''')
    registry = load_hub().registry
    with pytest.raises(ComponentNotFound) as err:
        registry.get("backbone", "shaky:mine")
    assert "its plugin 'shaky' is broken and provides nothing" in str(err.value)
    assert "weights index is corrupt" in str(err.value)
    with pytest.raises(ComponentNotFound, match=r"note: 1 broken plugin\(s\) registered nothing .*shaky: hook"):
        registry.get("backbone", "mine")


def test_debug_shows_the_plugins_own_traceback(plugin_dir, monkeypatch, capsys):
    plugin_dir("shaky2", '''
        from hub.hookspecs import hookimpl

        HUB_CONTRACT = ">=1.0,<2"

        @hookimpl
        def register_backbones(register):
            raise RuntimeError("weights index is corrupt")
    ''')
    load_hub()
    assert "Traceback" not in capsys.readouterr().err  # quiet by default
    monkeypatch.setenv("HUB_DEBUG", "1")
    load_hub()
    err = capsys.readouterr().err
    assert "plugin 'shaky2' failed to load; its traceback:" in err
    assert "hubtest_shaky2" in err and 'raise RuntimeError("weights index is corrupt")' in err


def test_an_authors_test_copy_shadows_the_installed_plugin_instead_of_breaking_it(plugin_dir, tmp_path, monkeypatch):
    """write_plugin_dist with the plugin name of an installed distribution ('vision'): the copy placed first
    on sys.path is loaded, the installed one is shadowed, and nothing is broken."""
    plugin_dir("vision", GOOD_PLUGIN, module="hubtest_vision_copy", dist_name="my-vision-copy")
    hub = load_hub(strict=True)  # strict: a broken plugin would raise here
    info = [p for p in hub.plugins if p.name == "vision"]
    assert [p.status for p in info] == ["ok", "shadowed"], [(p.distribution, p.status) for p in info]
    assert info[0].distribution == "my-vision-copy"
    assert "earlier on sys.path" in info[1].error and not hub.broken
    assert hub.registry.get("backbone", "vision:tiny-cnn").spec.feature_dim == 16  # the copy's component
