"""KubeSchedulerConfiguration files read into a profile, and the framework
honouring per-point enable/disable."""
from __future__ import annotations

import pytest

from actors.scheduler.config import ConfigError, profile_from_config
from actors.scheduler.framework import Framework, SimpleHandle
from actors.scheduler.plugins import DEFAULT_PLUGINS, REGISTRY

HEAD = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"}


def cfg(**profile) -> dict:
    return dict(HEAD, profiles=[profile])


def names_at(profile, point: str) -> list[str]:
    fw = Framework(profile, REGISTRY, SimpleHandle())
    return [pl.name for pl in fw.points[point]]


def test_an_empty_configuration_is_the_default_profile():
    p = profile_from_config(dict(HEAD))
    assert p.scheduler_name == "default-scheduler" and p.percentage_of_nodes_to_score == 0
    assert [(s.name, s.weight) for s in p.plugins] == list(DEFAULT_PLUGINS)
    assert all(s.points is None for s in p.plugins)


def test_point_and_multipoint_enable_disable_weights_and_args():
    p = profile_from_config(dict(HEAD, percentageOfNodesToScore=30, profiles=[{
        "schedulerName": "bin-packer",
        "plugins": {
            "score": {"disabled": [{"name": "NodeResourcesBalancedAllocation"}, {"name": "ImageLocality"}],
                      "enabled": [{"name": "NodeResourcesFit", "weight": 5}]},
            "multiPoint": {"disabled": [{"name": "InterPodAffinity"}]},
            "queueSort": {"enabled": [{"name": "PrioritySort"}]},
            "bind": {"enabled": [{"name": "DefaultBinder"}]},
        },
        "pluginConfig": [{"name": "NodeResourcesFit",
                          "args": {"scoringStrategy": {"type": "MostAllocated"}}}],
    }]))
    assert p.scheduler_name == "bin-packer" and p.percentage_of_nodes_to_score == 30
    by = {s.name: s for s in p.plugins}
    assert "InterPodAffinity" not in by
    assert by["NodeResourcesFit"].weight == 5
    assert by["NodeResourcesFit"].args == {"scoringStrategy": {"type": "MostAllocated"}}
    scores = names_at(p, "score")
    assert "NodeResourcesBalancedAllocation" not in scores and "ImageLocality" not in scores
    assert "NodeResourcesFit" in scores
    # BalancedAllocation still joins the points it was not disabled at (it only scores and pre-scores)
    assert "NodeResourcesBalancedAllocation" in names_at(p, "pre_score")
    assert "NodeResourcesFit" in names_at(p, "filter")


def test_star_disables_every_default_then_enabled_ones_come_back():
    p = profile_from_config(cfg(plugins={"multiPoint": {"disabled": [{"name": "*"}],
                                                        "enabled": [{"name": "NodeName"},
                                                                    {"name": "NodeResourcesFit", "weight": 2}]}},
                                percentageOfNodesToScore=100))
    assert [(s.name, s.weight) for s in p.plugins] == [("NodeName", 1), ("NodeResourcesFit", 2)]
    assert p.percentage_of_nodes_to_score == 100
    only_filter = profile_from_config(cfg(plugins={"filter": {"disabled": [{"name": "*"}],
                                                              "enabled": [{"name": "NodeName"}]}}))
    assert names_at(only_filter, "filter") == ["NodeName"]
    assert "TaintToleration" in names_at(only_filter, "score")  # other points keep their defaults


@pytest.mark.parametrize("doc,message", [
    ([], "must be an object"),
    ({"apiVersion": "v1", "kind": "Pod"}, "apiVersion/kind: must be kubescheduler.config.k8s.io/v1"),
    (cfg(plugins={"filter": {"enabled": [{"name": "Nope"}]}}),
     "profiles[0].plugins.filter.enabled[0].name: unknown plugin 'Nope'"),
    (cfg(plugins={"filter": {"enabled": [{"name": "ImageLocality"}]}}),
     "plugin 'ImageLocality' does not extend filter"),
    (cfg(plugins={"score": {"enabled": [{"name": "ImageLocality", "weight": 0}]}}),
     "profiles[0].plugins.score.enabled[0].weight: must be an integer in [1, 100], got 0"),
    (cfg(plugins={"sorting": {}}), "profiles[0].plugins.sorting: unknown extension point"),
    (cfg(plugins={"queueSort": {"enabled": [{"name": "NodeName"}]}}), "only PrioritySort is supported at queueSort"),
    (cfg(pluginConfig=[{"name": "Nope", "args": {}}]), "profiles[0].pluginConfig[0].name: unknown plugin 'Nope'"),
    (cfg(pluginConfig=[{"name": "NodeResourcesFit"}, {"name": "NodeResourcesFit"}]), "configured twice"),
    (cfg(percentageOfNodesToScore=101), "profiles[0].percentageOfNodesToScore: must be an integer in [0, 100]"),
    (dict(HEAD, profiles=[{}, {"schedulerName": "b"}]), "a scheduler replica runs one profile"),
])
def test_bad_configurations_name_the_field(doc, message):
    with pytest.raises(ConfigError) as e:
        profile_from_config(doc)
    assert message in str(e.value)


def test_plugin_args_reach_the_plugin():
    p = profile_from_config(cfg(pluginConfig=[{"name": "NodeResourcesFit", "args": {
        "scoringStrategy": {"type": "MostAllocated", "resources": [{"name": "cpu", "weight": 1}]}}}]))
    assert Framework(p, REGISTRY, SimpleHandle()).plugins["NodeResourcesFit"].scoring_strategy == "MostAllocated"
    assert Framework(profile_from_config(dict(HEAD)), REGISTRY, SimpleHandle()) \
        .plugins["NodeResourcesFit"].scoring_strategy == "LeastAllocated"


@pytest.mark.parametrize("text,message", [
    ("apiVersion: v1\nkind: Pod\n", "apiVersion/kind: must be kubescheduler.config.k8s.io/v1"),
    ("profiles: [\n", "not YAML"),
    (None, "No such file"),
])
def test_raykube_up_refuses_a_bad_scheduler_config_before_starting_anything(tmp_path, capsys, text, message):
    from actors.cli import main
    path = tmp_path / "sched.yaml"
    if text is not None:
        path.write_text(text)
    assert main(["up", "--scheduler-config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"raykube: --scheduler-config {path}: ") and message in err
    assert len(err.splitlines()) == 1
