import math

import pytest
import torch

from derain.models import (
    FUSIONS,
    DerainNet,
    DirectionalGradientNet,
    DynamicFusion,
    count_parameters,
)

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
    net = DerainNet(width=2, fusion=fusion)
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
    from derain.models import Fusion

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


def test_directional_gradients_finite_on_flat_image():
    dgn = DirectionalGradientNet(clusters=4)
    rain = torch.zeros(1, 1, 16, 16, requires_grad=True)
    loss = dgn(rain)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() == 0.0
    assert torch.isfinite(rain.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in dgn.parameters())


def test_directional_gradients_finite_on_random_rain():
    torch.manual_seed(0)
    dgn = DirectionalGradientNet(clusters=4)
    rain = (torch.rand(2, 1, 16, 16) * 0.1).requires_grad_()
    loss = dgn(rain)
    loss.backward()
    assert loss.item() > 0
    assert torch.isfinite(rain.grad).all() and rain.grad.abs().sum() > 0


def test_orientation_of_vertical_streaks():
    dgn = DirectionalGradientNet()
    rain = torch.zeros(1, 1, 8, 8)
    rain[..., 3] = 1.0  # one vertical streak: gradients are horizontal
    theta, mask = dgn.orientation(rain)
    assert mask.sum() > 0
    assert torch.allclose(theta[mask.bool()], torch.zeros(int(mask.sum())))
    rain = torch.zeros(1, 1, 8, 8)
    rain[..., 3, :] = 1.0  # a horizontal streak: gradients are vertical
    theta, mask = dgn.orientation(rain)
    assert torch.allclose(theta[mask.bool()].abs(),
                          torch.full((int(mask.sum()),), math.pi / 2))


def test_lv_is_smaller_for_one_direction_than_for_many():
    torch.manual_seed(0)
    dgn = DirectionalGradientNet(clusters=2)
    x = torch.arange(16.0)
    one = (torch.sin(x)[None, :] * torch.ones(16, 1))[None, None] * 0.5
    many = torch.rand(1, 1, 16, 16)
    # With centres at the data's orientation the loss vanishes for one direction.
    with torch.no_grad():
        dgn.centres.fill_(0.0)
    assert dgn(one).item() < 1e-6 < dgn(many).item()


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
    from derain.models import layer_table

    net = DerainNet(width=64)
    rows = layer_table(net, size=32)
    assert sum(r["parameters"] for r in rows) == count_parameters(net)
    generator = [r for r in rows if "generator" in r["layer"]][0]
    assert (generator["in"], generator["out"]) == (768, 768 * 256)
    assert rows[-1]["out"] == 1 and rows[-1]["scale"] == "1"
    assert {r["scale"] for r in rows} == {"1", "1/2", "1/4", "1/8"}


def test_build_model_picks_the_architecture():
    from derain.models import build_model

    assert isinstance(build_model({"width": 2}), DerainNet)
    assert type(build_model({"arch": "prenet", "channels": 4, "stages": 1,
                             "blocks": 1})).__name__ == "PReNet"
    with pytest.raises(ValueError, match="arch must be one of"):
        build_model({"arch": "unet"})
