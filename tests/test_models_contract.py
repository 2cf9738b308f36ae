"""One contract over every registered model x data set (timm style)."""

import pytest
import torch

import stnlab
from helpers import check_contract
from stnlab.models import DATASETS, cnn_of, create_model, list_datasets, list_models
from stnlab.nn import st_depths

torch.set_num_threads(2)

CASES = [(ds, name) for ds in list_datasets() for name in list_models(ds)]


def _expected_shape(ds: str, batch: int) -> tuple:
    spec = DATASETS[ds]
    return (batch, spec.num_heads, spec.num_classes) if spec.num_heads > 1 else (batch, spec.num_classes)


@pytest.mark.parametrize("ds,name", CASES, ids=[f"{d}:{n}" for d, n in CASES])
def test_contract(ds, name):
    torch.manual_seed(0)
    spec = DATASETS[ds]
    cnn, model = create_model(cnn_of(name), ds), create_model(name, ds)  # the CNN of name's own backbone
    x = torch.rand(3, *spec.input_shape)
    with torch.no_grad():
        assert cnn.eval()(x).shape == _expected_shape(ds, 3)
    check_contract(cnn, model, x, spec.num_classes)


def test_public_entry_points():
    assert stnlab.create_model is create_model and stnlab.list_models is list_models
    assert {"mnist", "mnist-rot", "mnist-trans", "mnist-scale", "svhn", "plankton"} <= set(list_datasets())
    assert "STN-SL0123" in list_models("svhn") and "STN-C0123" in list_models("plankton")
    assert "STN-C10" in list_models("plankton") and "STN-C8" in list_models("svhn")


@pytest.mark.parametrize("bad,match", [("STN-X1", "unknown model"), ("STN-C9", "not valid for 'svhn'"),
                                       ("STN-C31", "not valid"), ("STN-SL0", "use 'STN-C0'")])
def test_bad_model_names(bad, match):
    with pytest.raises(stnlab.StnlabError, match=match):
        create_model(bad, "svhn")


def test_bad_dataset_and_overrides():
    with pytest.raises(stnlab.StnlabError, match="valid: mnist, mnist-rot"):
        create_model("CNN", "cifar10")
    with pytest.raises(stnlab.StnlabError, match="valid: affine"):
        create_model("STN-C0", "mnist-rot", family="warp")
    with pytest.raises(stnlab.StnlabError, match="valid: mnist, small, large"):
        create_model("STN-C0", "mnist-rot", loc_net="huge")
    with pytest.raises(stnlab.StnlabError, match="iterations"):
        create_model("STN-C0", "mnist-rot", iterations=0)


@pytest.mark.parametrize("name,depths", [("CNN", []), ("STN-C0", [0]), ("STN-C3", [3]), ("STN-DL2", [0]),
                                         ("STN-SL3", [0]), ("STN-C0123", [0, 1, 2, 3]), ("STN-SL0123", [0])])
def test_st_depths_in_transform_order(name, depths):
    """st_depths names the depth of each matrix forward returns: what diagnostics and compensation read."""
    assert st_depths(create_model(name, "svhn")) == depths


def test_names_for_ten_stage_plankton():
    model = create_model("STN-C10", "plankton")
    assert list(model.feature_sts) == ["10"]
    model = create_model("STN-C12", "plankton")  # 12 > 10 stages: read as depths 1 and 2
    assert list(model.feature_sts) == ["1", "2"]


@pytest.mark.parametrize("dataset,shape,slope,conv2_fan_in", [("plankton", (6, 1, 95, 95), 1 / 3, 32 * 9)])
def test_deep_backbones_start_he_initialised_also_in_a_fresh_dl_trunk(dataset, shape, slope, conv2_fan_in):
    """PyTorch's default init leaves the deep plankton network with no signal at the logits (~2e-6)."""
    torch.manual_seed(0)
    cnn = create_model("CNN", dataset).eval()
    with torch.no_grad():
        logits = cnn(torch.rand(*shape) * 0.5)
    assert float(logits.std(0).mean()) > 0.01
    dl2 = create_model("STN-DL2", dataset)
    convs = [dl2.backbone.stages[1][0], dl2.input_st.loc_nets[0].trunk[1][0]]  # conv 2 and the trunk's fresh copy
    assert not torch.equal(convs[0].weight, convs[1].weight)  # re-drawn, not shared
    he_std = (2 / (1 + slope**2) / conv2_fan_in) ** 0.5
    for conv in convs:
        w, b = conv.weight.detach(), conv.bias.detach()
        assert abs(float(w.std()) / he_std - 1) < 0.05 and float(b.abs().max()) == 0.0



@pytest.mark.parametrize("name,depth", [("STN-C2", 2), ("STN-SL2", 0), ("STN-C7", 7)])
def test_plankton_loc_nets_read_small_feature_maps_with_an_input_dependent_signal(name, depth):
    """The "ndsb" body normalises its input: on depth-2 maps of ~0.01 its last hidden layer varies across images
    by the order of its mean (the old "large" body, default-initialised, by a few %: one transform for all).
    ``depth``: the backbone stages before the loc-net's input (an STN-SL's trunk is inside its loc-net)."""
    torch.manual_seed(0)
    x = torch.zeros(16, 1, 95, 95)  # a faint organism on black: the depth-2 maps average ~0.006 (real: ~0.008)
    for i in range(16):
        (r, c), (h, w) = torch.randint(20, 60, (2,)).tolist(), torch.randint(5, 30, (2,)).tolist()
        x[i, 0, r : r + h, c : c + w] = torch.rand(h, w) * 0.2
    spread = {}
    for body in ("ndsb", "large"):
        model = create_model(name, "plankton", loc_net=body, family="rotation")
        net = model.spatial_transformers()[0].loc_nets[0]
        with torch.no_grad():
            inp = torch.nn.Sequential(*model.backbone.stages[:depth])(x)
            hidden = net.hidden(net.trunk(inp))  # 16 x 32
            assert float(net(inp).abs().max()) == 0.0  # the zero-initialised output: identity at the start
        spread[body] = float(hidden.std(0).mean() / hidden.mean().abs())
    assert spread["ndsb"] > 0.5 > 10 * spread["large"]
