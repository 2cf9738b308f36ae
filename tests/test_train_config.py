"""Run config: defaults per data set, precedence, files, --set parsing, validation; lr schedule; groups."""

import json

import pytest
import torch

from stnlab.errors import StnlabError
from stnlab.train import KEYS, build_config, load_config_json, lr_at, parse_sets, read_config_file
from stnlab.train.loop import build_model, make_optimizer

torch.set_num_threads(2)


def test_defaults_follow_the_papers_and_jaderberg():
    mnist = build_config({"model": "STN-C0", "dataset": "mnist-rot"})
    assert (mnist.optimizer, mnist.lr, mnist.batch_size, mnist.lr_decay) == ("sgd", 0.01, 256, 0.1)
    assert mnist.loc_lr_multiplier == 1.0 and mnist.weight_decay == 0.0
    svhn = build_config({"model": "STN-C0", "dataset": "svhn"})
    assert svhn.loc_lr_multiplier == 0.1 and svhn.weight_decay == 5e-4


def test_precedence_later_layers_win_and_values_are_typed(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("# a run\nmodel: STN-SL1\ndataset: mnist-rot\nlr: 0.1  # high\nmilestones: [0.3, 0.6]\n"
                 "iterations: 2\nchannels_last: true\n")
    cfg = build_config(read_config_file(f), {"seed": 3}, parse_sets(["lr=0.05", "steps=7", "loc_net=none"]))
    assert (cfg.model, cfg.lr, cfg.seed, cfg.steps, cfg.iterations) == ("STN-SL1", 0.05, 3, 7, 2)
    assert cfg.milestones == (0.3, 0.6) and cfg.channels_last is True and cfg.loc_net is None
    assert isinstance(cfg.steps, int) and isinstance(cfg.lr, float)


def test_json_round_trip(tmp_path):
    cfg = build_config({"model": "CNN", "dataset": "mnist", "milestones": "0.2,0.9", "val_every": "5"})
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    assert load_config_json(tmp_path / "config.json") == cfg
    assert set(cfg.to_dict()) == set(KEYS)


@pytest.mark.parametrize(
    "layer, fragment",
    [
        ({"bogus": 1}, "unknown config key 'bogus'; valid keys: model, dataset"),
        ({"dataset": "cifar"}, "unknown dataset 'cifar'"),
        ({"lr": "abc"}, "'lr': 'abc' is not a valid float"),
        ({"lr": -1}, "must be a positive number"),
        ({"batch_size": 2.5}, "not a valid int"),
        ({"steps": 0}, "'steps'"),
        ({"schedule": "warmup"}, "valid: step, constant, cosine"),
        ({"optimizer": "lbfgs"}, "valid: sgd, adam"),
        ({"milestones": "0.8,0.2"}, "increasing fractions"),
        ({"channels_last": "maybe"}, "not a valid bool"),
        ({"epochs": None}, "cannot be empty"),
        ({"seed": "1e20"}, "'seed' = 100000000000000000000: must be below 2**63"),
        ({"data_seed": 2**63}, "'data_seed'"),
        ({"transform_warmup": -1}, "'transform_warmup' = -1.0: must be >= 0"),
        ({"dataset": "mnist", "transform_warmup": 5}, "needs a transformed protocol or an augmented data set"),
        ({"augment_rotation": 30}, "'augment_rotation' = 30.0: must be in 0..180 (degrees) and limits only"),
        ({"dataset": "plankton", "augment_rotation": 200}, "'augment_rotation' = 200.0: must be in 0..180"),
        ({"dataset": "plankton", "augment_rotation": -1}, "'augment_rotation' = -1.0"),
    ],
)
def test_bad_values_name_the_key(layer, fragment):
    with pytest.raises(StnlabError) as err:
        build_config({"model": "CNN", "dataset": "mnist-rot"}, layer)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_missing_model_and_bad_set_syntax(tmp_path):
    with pytest.raises(StnlabError, match="no model given; pass --model"):
        build_config({"dataset": "mnist"})
    with pytest.raises(StnlabError, match="is not key=value"):
        parse_sets(["lr"])
    with pytest.raises(StnlabError, match="unknown config key 'lrr' in --set; valid keys"):
        parse_sets(["lrr=1"])
    bad = tmp_path / "c.yaml"
    bad.write_text("model: CNN\n  nested: 1\n")
    with pytest.raises(StnlabError, match="c.yaml:2: expected 'key: value'"):
        read_config_file(bad)
    (tmp_path / "c.json").write_text('{"model": "CNN", "speed": 3}')
    with pytest.raises(StnlabError, match="unknown key"):
        read_config_file(tmp_path / "c.json")
    (tmp_path / "c.txt").write_text("model: CNN\n")
    with pytest.raises(StnlabError, match="use .json, .yaml or .yml"):
        read_config_file(tmp_path / "c.txt")


def test_step_schedule_decays_by_ten_at_the_milestones():
    cfg = build_config({"model": "CNN", "dataset": "mnist", "milestones": [0.5, 0.75]})
    lrs = [lr_at(cfg, s, 100) for s in range(100)]
    assert lrs[0] == lrs[49] == 0.01
    assert lrs[50] == pytest.approx(1e-3) and lrs[74] == pytest.approx(1e-3)
    assert lrs[75] == pytest.approx(1e-4) and lrs[99] == pytest.approx(1e-4)
    cos = cfg.replace(schedule="cosine")
    assert lr_at(cos, 0, 100) == 0.01 and lr_at(cos, 50, 100) == pytest.approx(0.005)


def test_lr_warmup_ramps_linearly_to_the_schedule_and_leaves_it_alone_after():
    cfg = build_config({"model": "CNN", "dataset": "mnist", "schedule": "cosine", "lr": 0.1, "lr_warmup": 0.5})
    # 20 steps an epoch: the warm-up covers the first 10 steps
    lrs = [lr_at(cfg, s, 100, 20) for s in range(100)]
    plain = [lr_at(cfg.replace(lr_warmup=0.0), s, 100, 20) for s in range(100)]
    assert lrs[0] == pytest.approx(plain[0] / 10) and lrs[4] == pytest.approx(plain[4] * 5 / 10)
    assert lrs[9:] == plain[9:]
    assert all(b > a for a, b in zip(lrs[:9], lrs[1:10]))
    assert lr_at(cfg, 0, 100) == plain[0]  # without the epoch length (no loop) there is no warm-up
    with pytest.raises(StnlabError, match="lr_warmup"):
        cfg.replace(lr_warmup=-1)


def test_loc_nets_train_at_the_multiplied_rate_and_groups_partition_the_parameters():
    cfg = build_config({"model": "STN-SL1", "dataset": "mnist-rot", "loc_lr_multiplier": 0.1})
    model = build_model(cfg)
    opt = make_optimizer(cfg, model)
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters()) and len(ids) == len(set(ids))
    rates = {g["name"]: g["lr"] for g in opt.param_groups}
    assert rates["classifier"] == 0.01 and rates["st0"] == pytest.approx(0.001)
    loc = {id(p) for p in model.localization_parameters()}
    assert {id(p) for g in opt.param_groups if g["name"] != "classifier" for p in g["params"]} == loc


def test_build_model_is_seeded():
    cfg = build_config({"model": "STN-C0", "dataset": "mnist-rot", "seed": 5})
    a, b = build_model(cfg), build_model(cfg)
    c = build_model(cfg.replace(seed=6))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_force_clears_only_what_stnlab_wrote(tmp_path):
    from stnlab.train.checkpoint import clear_run_folder, prepare_run_folder

    run = tmp_path / "run"
    (run / "tb").mkdir(parents=True)
    for name in ("config.json", "metrics.jsonl", "last.pt", "best.pt", "eval.json", "notes.txt"):
        (run / name).write_text("x")
    with pytest.raises(StnlabError, match="already exists"):
        prepare_run_folder(run, force=False, resume=False)
    prepare_run_folder(run, force=True, resume=False)
    clear_run_folder(run)
    assert [p.name for p in run.iterdir()] == ["notes.txt"]
    prepare_run_folder(tmp_path / "new", force=False, resume=False)  # a fresh folder is fine
    assert not (tmp_path / "new").exists()  # ... and checking it writes nothing


def test_every_config_field_declares_a_role_and_the_key_lists_derive_from_them():
    """A new RunConfig field without a role fails here; the lists that resuming, `reproduce` and the results
    use are the roles', equal to the lists they replaced (budget folder names and recipe checks unchanged)."""
    from stnlab.experiments.reproduce import HOST_KEYS
    from stnlab.experiments.results import _recipe
    from stnlab.train import ROLES, keys_with
    from stnlab.train.config import ROLE_OF
    from stnlab.train.loop import HOST_RESUME_KEYS, RECIPE_KEYS, RESUME_KEYS

    assert {k for k, role in ROLE_OF.items() if role not in ROLES} == set()
    assert set(ROLE_OF) == set(KEYS) and sorted(keys_with(*ROLES)) == sorted(KEYS)
    host = {"threads", "device", "prefetch", "eval_batch_size", "guard_every", "ckpt_every", "st_warn_after",
            "st_grid_every", "chance_stop"}
    assert HOST_KEYS == host
    assert set(HOST_RESUME_KEYS) == host | {"val_every", "val_samples"}
    assert set(RECIPE_KEYS) == {"epochs", "steps", "lr", "loc_lr_multiplier", "momentum", "weight_decay",
                                "grad_clip", "loc_grad_clip", "theta_bound"}
    assert set(RESUME_KEYS) == set(HOST_RESUME_KEYS) | set(RECIPE_KEYS)
    assert set(keys_with("cell")) == {"model", "dataset", "seed"}
    recipe = _recipe(build_config({"model": "CNN", "dataset": "mnist-rot"}).to_dict())
    assert set(recipe) == set(KEYS) - host - {"model", "dataset", "seed"}
    with pytest.raises(ValueError, match="unknown role"):
        keys_with("machine")

