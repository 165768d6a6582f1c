"""The networks: the paper's DerainNet (Tables I-II), the SPANet- and PReNet-style
networks of the neighbours, and the helpers they share."""


import pytest
import torch

from derain.images import rgb_to_ycbcr_torch
from derain.nets import (
    FUSIONS,
    DerainNet,
    DynamicFusion,
    PReNet,
    SpatialAttentiveNet,
    build_model,
    count_parameters,
    derain_rgb_any,
)
from derain.nets.spanet import DIRECTIONS, IRNN

# Tables I-II of the paper, (kernel, in, out) of every learned layer at width 64.
# The deconvolutions use a fixed bilinear kernel (no parameters) and "dyn_filter"
# applies the generated filters (no parameters of its own).
ENCODER = [(1, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
           (256, 256)]
GENERATOR = [(1, 768, 768 * 256)]
DECODER = [(3, 1024, 256), (3, 256, 256), (3, 256, 256), (3, 256, 128),
           (3, 512, 128), (3, 128, 128), (3, 128, 64),
           (3, 256, 64), (3, 64, 64), (3, 64, 1)]


def table_count(kernels=(3, 5, 7)):
    layers = [(k, cin, cout) for k in kernels for cin, cout in ENCODER]
    layers += GENERATOR + DECODER
    return sum(k * k * cin * cout + cout for k, cin, cout in layers)


def test_paper_width_parameter_count_matches_tables():
    with torch.device("meta"):
        net = DerainNet(width=64, kernels="3/5/7", fusion="dynamic")
    assert count_parameters(net) == table_count() == 172_009_921


def test_smaller_kernel_set_count():
    with torch.device("meta"):
        net = DerainNet(width=64, kernels="1/3/5")
    assert count_parameters(net) == table_count((1, 3, 5))


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 1, 7, 13), (1, 1, 33, 50),
                                   (1, 1, 64, 64)])
def test_any_size_gives_same_size(shape):
    net = DerainNet(width=2)
    background, rain = net(torch.rand(*shape))
    assert background.shape == rain.shape == shape


def test_rgb_model_shapes():
    net = DerainNet(width=2, in_channels=3)
    background, rain = net(torch.rand(1, 3, 20, 24))
    assert background.shape == rain.shape == (1, 3, 20, 24)


def test_rain_starts_at_zero_so_the_untrained_net_is_the_identity():
    net = DerainNet(width=2)
    x = torch.rand(2, 1, 16, 16)
    background, rain = net(x)
    assert torch.equal(rain, torch.zeros_like(rain))
    assert torch.equal(background, x)


def test_clipping_keeps_background_in_range():
    net = DerainNet(width=2)
    last = net.dec1[-1]
    with torch.no_grad():
        last.bias.fill_(2.0)  # predicts far more rain than the input holds
    background, rain = net(torch.rand(1, 1, 16, 16))
    assert background.min() == 0.0
    with torch.no_grad():
        last.bias.fill_(-2.0)
    background, _ = net(torch.rand(1, 1, 16, 16))
    assert background.max() == 1.0


@pytest.mark.parametrize("fusion", FUSIONS)
def test_each_fusion_runs_and_trains(fusion):
    torch.manual_seed(0)
    # He init: with PyTorch's default a width-2 network shrinks its features so
    # much over ~20 layers that the encoders' gradients underflow.
    net = DerainNet(width=2, fusion=fusion, init="kaiming", slope=0.01)
    # The last layer starts at zero (and so blocks gradient to the rest): move it
    # as one optimisation step would.
    torch.nn.init.normal_(net.dec1[-1].weight, std=0.1)
    x = torch.rand(2, 1, 16, 16)
    background, rain = net(x)
    (rain.pow(2).mean() + (background - 0.5).abs().mean()).backward()
    grads = [p.grad for p in net.fusion.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # Encoders feed the fusion, so they receive gradient whatever the fusion.
    assert net.encoders[0].stage1[0].weight.grad.abs().sum() > 0


def test_fusion_modes_differ():
    torch.manual_seed(0)
    feats = [torch.rand(1, 4, 3, 3) for _ in range(3)]
    from derain.nets import Fusion

    out_sum = Fusion("sum", 4)(feats)
    out_prod = Fusion("product", 4)(feats)
    assert torch.allclose(out_sum, feats[0] + feats[1] + feats[2])
    assert torch.allclose(out_prod, feats[0] * feats[1] * feats[2])


def test_chunked_dynamic_fusion_equals_direct():
    torch.manual_seed(0)
    fusion = DynamicFusion(channels=12, out_channels=7, chunk=3)
    x = torch.randn(2, 12, 5, 4)
    assert torch.allclose(fusion(x), fusion.forward_direct(x), atol=1e-5)


def test_dynamic_fusion_is_input_conditioned():
    # Unlike a static 1x1 conv, doubling the input more than doubles the output.
    torch.manual_seed(0)
    fusion = DynamicFusion(channels=6, out_channels=3)
    with torch.no_grad():
        fusion.generator.bias.zero_()
    x = torch.randn(1, 6, 2, 2)
    assert torch.allclose(fusion(2 * x), 4 * fusion(x), atol=1e-5)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="fusion"):
        DerainNet(fusion="median")
    with pytest.raises(ValueError, match="kernels"):
        DerainNet(kernels=[3, 4, 5])
    with pytest.raises(ValueError, match="expected input"):
        DerainNet(width=2)(torch.rand(1, 3, 8, 8))


def test_derain_rgb_keeps_chroma():
    from derain.images import rgb_to_ycbcr_torch

    net = DerainNet(width=2)
    rgb = torch.rand(1, 3, 16, 16) * 0.8 + 0.1
    out, rain = net.derain_rgb(rgb)
    assert out.shape == rgb.shape and rain.shape == (1, 1, 16, 16)
    # Untrained net: rain = 0, so the colour image comes back unchanged.
    assert torch.allclose(out, rgb, atol=1e-5)
    assert torch.allclose(rgb_to_ycbcr_torch(out)[:, 1:],
                          rgb_to_ycbcr_torch(rgb)[:, 1:], atol=1e-5)


def test_slope_zero_is_the_papers_relu_and_positive_is_leaky():
    relu = DerainNet(width=2)
    leaky = DerainNet(width=2, slope=0.1)
    kinds = lambda net: {type(m) for m in net.modules()}  # noqa: E731
    assert torch.nn.ReLU in kinds(relu) and torch.nn.LeakyReLU not in kinds(relu)
    assert torch.nn.LeakyReLU in kinds(leaky) and torch.nn.ReLU not in kinds(leaky)
    assert count_parameters(relu) == count_parameters(leaky)
    with pytest.raises(ValueError, match="slope"):
        DerainNet(width=2, slope=-0.1)


def test_config_rebuilds_the_same_network():
    net = DerainNet(width=3, kernels="1/3/5", fusion="sum", slope=0.05)
    again = DerainNet(**net.config)
    again.load_state_dict(net.state_dict())
    x = torch.rand(1, 1, 16, 16)
    torch.nn.init.normal_(net.dec1[-1].weight, std=0.1)
    again.load_state_dict(net.state_dict())
    assert torch.equal(net(x)[1], again(x)[1])


def test_layer_table_covers_every_parameter_at_the_paper_width():
    from derain.nets import layer_table

    net = DerainNet(width=64)
    rows = layer_table(net, size=32)
    assert sum(r["parameters"] for r in rows) == count_parameters(net)
    generator = [r for r in rows if "generator" in r["layer"]][0]
    assert (generator["in"], generator["out"]) == (768, 768 * 256)
    assert rows[-1]["out"] == 1 and rows[-1]["scale"] == "1"
    assert {r["scale"] for r in rows} == {"1", "1/2", "1/4", "1/8"}


def test_build_model_picks_the_architecture():
    from derain.nets import build_model

    assert isinstance(build_model({"width": 2}), DerainNet)
    assert type(build_model({"arch": "prenet", "channels": 4, "stages": 1,
                             "blocks": 1})).__name__ == "PReNet"
    with pytest.raises(ValueError, match="arch must be one of"):
        build_model({"arch": "unet"})


def test_bottlenecks_are_the_three_padded_encoder_outputs():
    net = DerainNet(width=2, fusion="concat")
    taps = net.bottlenecks(torch.rand(2, 1, 20, 17))
    assert [tuple(t.shape) for t in taps] == [(2, 8, 3, 3)] * 3


# ---------------------------------------------------------------------- SPANet


def test_irnn_identity_init_carries_an_impulse_along_each_direction():
    irnn = IRNN(1)
    x = torch.zeros(1, 1, 8, 10)
    x[0, 0, 3, 5] = 1.0
    out = dict(zip(DIRECTIONS, irnn.directions(x), strict=True))
    expected = {d: torch.zeros(8, 10) for d in DIRECTIONS}
    expected["right"][3, 5:] = 1
    expected["left"][3, :6] = 1
    expected["down"][3:, 5] = 1
    expected["up"][:4, 5] = 1
    for d in DIRECTIONS:
        assert torch.equal(out[d][0, 0], expected[d]), d
    assert irnn(x).shape == (1, 4, 8, 10)


def test_spanet_shapes_range_identity_start_and_gradients():
    torch.manual_seed(0)
    net = SpatialAttentiveNet(channels=8)
    rainy = torch.rand(2, 1, 20, 24)
    background, rain = net(rainy)
    assert background.shape == rain.shape == rainy.shape
    assert torch.equal(background, rainy)  # zero tail: starts at the identity
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.5)
    background, rain = net(rainy)
    assert background.min() >= 0 and background.max() <= 1
    assert torch.allclose(background + rain, rainy)
    background.mean().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    assert net.head.weight.grad.abs().sum() > 0
    assert net.attentive[0].attention.irnn1.weight.grad.abs().sum() > 0
    maps = net.attention_maps(rainy)
    assert len(maps) == 2 and maps[0].shape == (2, 1, 20, 24)
    assert maps[0].min() > 0 and maps[0].max() < 1


def test_spanet_default_size_and_config():
    net = SpatialAttentiveNet()
    assert 10_000 < count_parameters(net) < 200_000
    assert net.config["arch"] == "spanet" and net.in_channels == 1
    rebuilt = SpatialAttentiveNet(
        **{k: v for k, v in net.config.items() if k != "arch"})
    assert count_parameters(rebuilt) == count_parameters(net)
    with pytest.raises(ValueError):
        SpatialAttentiveNet(in_channels=2)


def test_derain_rgb_changes_luminance_only():
    torch.manual_seed(1)
    net = SpatialAttentiveNet(channels=8)
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.02)
    rgb = torch.rand(1, 3, 16, 16) * 0.3 + 0.35
    out, rain = net.derain_rgb(rgb)
    assert out.shape == rgb.shape and rain.shape == (1, 1, 16, 16)
    before, after = rgb_to_ycbcr_torch(rgb), rgb_to_ycbcr_torch(out)
    assert (after[:, 0] - before[:, 0]).abs().max() > 1e-3
    assert torch.allclose(after[:, 1:], before[:, 1:], atol=1e-5)


def test_derain_rgb_any_serves_prenet():
    net = PReNet(in_channels=1, channels=4, stages=1, blocks=1)
    out, rain = derain_rgb_any(net, torch.rand(2, 3, 12, 12))
    assert out.shape == (2, 3, 12, 12) and rain.shape == (2, 1, 12, 12)
    assert out.min() >= 0 and out.max() <= 1
    rgb_net = PReNet(in_channels=3, channels=4, stages=1, blocks=1)
    rgb = torch.rand(1, 3, 8, 8)
    assert torch.equal(derain_rgb_any(rgb_net, rgb)[0], rgb_net(rgb)[0])


# ---------------------------------------------------------------------- PReNet


def test_parameter_count_of_prenet_defaults():
    # conv 6->32, LSTM gates 64->128, 5 residual blocks of two 32->32 convs,
    # conv 32->3, all 3x3 with biases.
    expected = (6 * 32 * 9 + 32) + (64 * 128 * 9 + 128) + 10 * (32 * 32 * 9 + 32) + (
        32 * 3 * 9 + 3)
    assert count_parameters(PReNet()) == expected == 168_963


def test_prenet_shapes_range_and_stages():
    net = PReNet(in_channels=1, channels=8, stages=3, blocks=1)
    rainy = torch.rand(2, 1, 13, 17)
    background, rain = net(rainy)
    assert background.shape == rain.shape == rainy.shape
    assert background.min() >= 0 and background.max() <= 1
    assert torch.allclose(background + rain, rainy)


def test_prenet_gradients_reach_the_first_layer():
    net = PReNet(in_channels=3, channels=8, stages=2, blocks=1)
    background, _ = net(torch.rand(1, 3, 16, 16) * 0.5 + 0.25)
    background.mean().backward()
    assert net.head[0].weight.grad.abs().sum() > 0


def test_kaiming_init_keeps_the_feature_scale_and_the_identity_start():
    x = torch.rand(2, 1, 32, 32)
    scales, features = {}, {}
    for init in ("default", "kaiming"):
        torch.manual_seed(0)
        net = DerainNet(width=4, slope=0.01, init=init)
        net.dec1[-2].register_forward_hook(
            lambda _m, _i, out, key=init: features.__setitem__(key, out))
        background, _ = net(x)
        assert torch.equal(background, x)  # the rain estimate starts at zero
        scales[init] = features[init].std().item()
    assert scales["kaiming"] > 5 * scales["default"]
    assert DerainNet(width=2, init="kaiming").config["init"] == "kaiming"
    assert "init" not in DerainNet(width=2).config
    with pytest.raises(ValueError, match="init"):
        DerainNet(width=2, init="xavier")


# ------------------------------------------------------- neighbours' initialisation


@pytest.mark.parametrize("arch,kwargs", [
    ("spanet", {"in_channels": 1, "channels": 8, "blocks": 1}),
    ("prenet", {"in_channels": 1, "channels": 8, "stages": 2, "blocks": 1}),
])
def test_kaiming_neighbours_start_at_the_identity_with_he_weights(arch, kwargs):
    torch.manual_seed(0)
    net = build_model({"arch": arch, **kwargs, "init": "kaiming"})
    assert net.config["init"] == "kaiming"
    rainy = torch.rand(2, 1, 16, 16)
    background, _ = net(rainy)
    assert torch.equal(background, rainy)  # zero last layer: the identity
    head = net.head if arch == "spanet" else net.head[0]
    fan_in = head.weight[0].numel()
    # He normal: std sqrt(2 / fan_in), where PyTorch's default is about
    # sqrt(1 / (3 fan_in)); zero biases.
    he = (2 / fan_in) ** 0.5
    assert abs(float(head.weight.detach().std()) - he) < 0.35 * he
    assert torch.count_nonzero(head.bias) == 0
    rebuilt = build_model(net.config)  # the stored config builds the same network
    assert rebuilt.config == net.config
    background.sum().backward()  # the zero tail still receives a gradient
    assert net.tail.weight.grad.abs().sum() > 0


def test_default_init_of_the_neighbours_is_unchanged_and_not_stored():
    torch.manual_seed(0)
    prenet = PReNet(in_channels=1, channels=4, stages=1, blocks=1)
    assert "init" not in prenet.config  # models saved before the option load as before
    assert torch.count_nonzero(prenet.tail.weight) > 0  # PReNet's own start
    assert "init" not in SpatialAttentiveNet(channels=4).config
    with pytest.raises(ValueError, match="init"):
        PReNet(in_channels=1, channels=4, init="xavier")
