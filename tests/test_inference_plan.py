"""Inference plans (pycnn/models/inference.py): the fused predict path equals
the layer-by-layer forward(training=False), folded weights follow every weight
change, and the kernels the plans use match the NumPy reference."""
import numpy as np
import pytest

import pycnn
from pycnn import layers
from pycnn.models import inference
from pycnn.ops import act as act_ops
from pycnn.ops import pool as pool_ops
from pycnn.reference import act as act_ref
from pycnn.testing import assert_close


# ----- kernels ---------------------------------------------------------------
@pytest.mark.parametrize("code", range(10))
@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("shape", [(0, 3), (1,), (7, 13), (3, 4097), (2, 5, 1000)])
def test_sum_act_matches_reference(isa, rng, code, count, shape):
    xs = [(rng.standard_normal(shape) * 3).astype(np.float32) for _ in range(count)]
    y = act_ops.sum_act(xs, code, 0.2)
    assert y.shape == shape and y.dtype == np.float32
    assert_close(y, act_ref.sum_act(xs, code, 0.2), rtol=1e-5, atol=1e-5)


def test_sum_act_linear_has_numpy_bits(isa, rng):
    xs = [rng.standard_normal((5, 333)).astype(np.float32) for _ in range(3)]
    np.testing.assert_array_equal(act_ops.sum_act(xs), xs[0] + xs[1] + xs[2])


def test_sum_act_keeps_nan_through_relu(isa):
    a = np.array([np.nan, -1.0, 2.0], np.float32)
    y = act_ops.sum_act([a, np.ones(3, np.float32)], 1)
    assert np.isnan(y[0]) and y[1] == 0.0 and y[2] == 3.0


@pytest.mark.parametrize("bad", [
    lambda: act_ops.sum_act([np.ones((2, 3), np.float32), np.ones((3, 2), np.float32)]),
    lambda: act_ops.sum_act([np.ones(3, np.float32)], 10),
    lambda: act_ops.sum_act([]),
    lambda: act_ops.sum_act([np.ones(3, np.float32)], -1),
])
def test_sum_act_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        bad()


@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 0, 1, 0), (1, 1, 1, 1)])
def test_max_pool_without_argmax_same_values(isa, rng, pads):
    x = rng.standard_normal((2, 7, 9, 5)).astype(np.float32)
    x[0, 1, 1, 2] = np.nan
    x[1, 3, 4, :] = -np.inf
    y, argmax = pool_ops.max_pool2d_forward(x, (3, 2), (2, 2), pads)
    y2, none = pool_ops.max_pool2d_forward(x, (3, 2), (2, 2), pads, with_argmax=False)
    assert none is None and argmax is not None
    np.testing.assert_array_equal(y, y2)


# ----- plans vs the layer-by-layer forward ---------------------------------------
def _randomise_bn(model, rng):
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.3, c))
            layer.moving_variance.assign(rng.uniform(0.2, 3.0, c))
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.3, 2.0, c))
            if layer.center:
                layer.beta.assign(rng.normal(0, 0.3, c))


def _check_plan(model, x, rtol=2e-5, atol=2e-5):
    y_ref, _ = model.forward(x, training=False)
    # Twice: a chain plan runs its Python steps first, then its compiled
    # InferenceChain (same kernels, so the same bits).
    y = model.predict_on_batch(x)
    y2 = model.predict_on_batch(x)
    ys, refs, ys2 = (y, y_ref, y2) if isinstance(y, list) else ([y], [y_ref], [y2])
    for a, b, a2 in zip(ys, refs, ys2):
        assert a.shape == b.shape == a2.shape
        assert_close(a, b, rtol=rtol, atol=atol)
        np.testing.assert_array_equal(a2, a)
    return model._inference_plan()


def _step_types(plan):
    return [type(s).__name__ for s in plan.steps]


def _residual_net(bn_kwargs=None, act_layer=None):
    bn_kwargs = bn_kwargs or {}
    inp = layers.Input((12, 12, 3))
    x = layers.ZeroPadding2D(2)(inp)
    x = layers.Conv2D(8, 5, strides=2, name="stem")(x)
    x = layers.BatchNormalization(axis=3, **bn_kwargs)(x)
    x = (act_layer or layers.Activation("relu"))(x)
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(x)
    x = layers.MaxPooling2D(3, strides=1)(x)
    shortcut = x
    y = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(8, 1)(y)
    y = layers.BatchNormalization(epsilon=1e-5)(y)
    x = layers.Add()([shortcut, y])
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(6)(x)
    x = layers.BatchNormalization()(x)
    out = layers.Activation("tanh")(x)
    return pycnn.Model(inp, out)


def test_residual_graph_fuses_and_matches(rng):
    model = _residual_net()
    _randomise_bn(model, rng)
    plan = _check_plan(model, rng.standard_normal((3, 12, 12, 3)).astype(np.float32))
    kinds = _step_types(plan)
    # conv -> BN -> Add -> ReLU is one conv call adding the shortcut in its epilogue,
    # in the shortcut's own buffer (nothing reads it afterwards)
    assert kinds.count("_ConvStep") == 3 and kinds.count("_SumActStep") == 0
    (res,) = [s for s in plan.steps if getattr(s, "residual_key", None) is not None]
    assert res.residual_in_place and res.act == (1, 0.0)
    assert "_DenseStep" in kinds and "_MaxPoolStep" not in kinds
    # The stem's ReLU -> ZeroPadding2D -> MaxPooling2D runs in the stem conv's
    # call, the padding as the pool's own: a ReLU output is >= 0.
    (stem,) = [s for s in plan.steps if getattr(s, "conv", None) is model.get_layer("stem")]
    assert stem.pool is not None and stem.pool_pad is not None
    # Every BatchNormalization, activation and padding was folded away.
    left = [type(s.layer).__name__ for s in plan.steps if isinstance(s, inference._LayerStep)]
    assert left == ["GlobalAveragePooling2D"]


@pytest.mark.parametrize("padding, pool, strides", [
    (1, 3, 2), (((1, 0), (0, 1)), 2, 1), (((0, 2), (1, 1)), 3, (1, 2))])
@pytest.mark.parametrize("relu_layer", [False, True])
def test_relu_conv_zero_padding_max_pool_is_one_call(rng, padding, pool, strides, relu_layer):
    inp = layers.Input((11, 10, 3))
    x = layers.Conv2D(5, 3, strides=2, activation=None if relu_layer else "relu", name="c")(inp)
    if relu_layer:
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = layers.ZeroPadding2D(padding)(x)
    out = layers.MaxPooling2D(pool, strides=strides)(x)
    model = pycnn.Model(inp, out)
    _randomise_bn(model, rng)
    plan = _check_plan(model, rng.standard_normal((2, 11, 10, 3)).astype(np.float32))
    assert _step_types(plan) == ["_ConvStep"] and plan.steps[0].pool_pad is not None


def test_zero_padding_before_max_pool_of_signed_values_stays(rng):
    inp = layers.Input((6, 6, 2))
    x = layers.Conv2D(3, 3)(inp)  # linear: negative values, a zero border can win
    x = layers.ZeroPadding2D(1)(x)
    out = layers.MaxPooling2D(2)(x)
    model = pycnn.Model(inp, out)
    plan = _check_plan(model, rng.standard_normal((2, 6, 6, 2)).astype(np.float32) - 3)
    assert any(isinstance(s, inference._LayerStep) and isinstance(s.layer, layers.ZeroPadding2D)
               for s in plan.steps)


@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 2, 0, 3), (3, 0, 2, 1)])
def test_zero_pad2d_matches_reference(isa, rng, pads):
    from pycnn.reference import pool as pool_ref
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(pool_ops.zero_pad2d(x, pads), pool_ref.zero_pad2d(x, pads))
    with pytest.raises(ValueError):
        pool_ops.zero_pad2d(x, (-1, 0, 0, 0))
    with pytest.raises(ValueError):
        pool_ops.zero_pad2d(x[0], pads)


def test_zero_padding_1d_rejects_wrong_rank():
    with pytest.raises(ValueError, match="expected ndim=3"):
        layers.ZeroPadding1D(2)(np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("bn_kwargs", [dict(scale=False), dict(center=False),
                                       dict(scale=False, center=False)])
def test_batchnorm_without_scale_or_center(rng, bn_kwargs):
    model = _residual_net(bn_kwargs)
    _randomise_bn(model, rng)
    _check_plan(model, rng.standard_normal((2, 12, 12, 3)).astype(np.float32))


@pytest.mark.parametrize("act_layer", [lambda: layers.LeakyReLU(0.3),
                                       lambda: layers.ReLU(negative_slope=0.1),
                                       lambda: layers.ReLU(max_value=6.0),
                                       lambda: layers.Activation("softmax"),
                                       lambda: layers.Activation("gelu")])
def test_activation_kinds(rng, act_layer):
    model = _residual_net(act_layer=act_layer())
    _randomise_bn(model, rng)
    _check_plan(model, rng.standard_normal((2, 12, 12, 3)).astype(np.float32))


def test_intermediate_outputs_are_not_fused_away(rng):
    inp = layers.Input((8, 8, 2))
    conv = layers.Conv2D(4, 3)(inp)
    bn = layers.BatchNormalization()(conv)
    act = layers.Activation("relu")(bn)
    other = layers.Conv2D(4, 1)(bn)  # bn feeds two layers
    model = pycnn.Model(inp, [conv, act, other])
    _randomise_bn(model, rng)
    plan = _check_plan(model, rng.standard_normal((2, 8, 8, 2)).astype(np.float32))
    assert any(isinstance(s, inference._LayerStep) and
               isinstance(s.layer, layers.BatchNormalization) for s in plan.steps)


def test_shared_conv_and_fan_out(rng):
    inp = layers.Input((6, 6, 3))
    conv = layers.Conv2D(3, 3, padding="same")
    bn = layers.BatchNormalization()
    a = bn(conv(inp))
    b = bn(conv(a))  # the same layers twice: each call folds the same weights
    out = layers.Add()([a, b, inp])
    model = pycnn.Model(inp, out)
    _randomise_bn(model, rng)
    _check_plan(model, rng.standard_normal((2, 6, 6, 3)).astype(np.float32))


def test_broadcasting_add_falls_back(rng):
    inp = layers.Input((4, 5))
    one = layers.Input((1, 5))
    out = layers.Activation("relu")(layers.Add()([inp, one]))
    model = pycnn.Model([inp, one], out)
    x = [rng.standard_normal((2, 4, 5)).astype(np.float32),
         rng.standard_normal((2, 1, 5)).astype(np.float32)]
    y = model.predict_on_batch(x)
    np.testing.assert_allclose(y, np.maximum(x[0] + x[1], 0), rtol=1e-6)


def _bench_networks():
    """bench/networks.py loaded by path: putting the checkout on sys.path would
    shadow the installed package in processes spawned by later tests."""
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "bench", "networks.py")
    spec = importlib.util.spec_from_file_location("_pycnn_bench_networks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed_networks_match(rng):
    networks = _bench_networks()
    for build, shape in ((networks.seed_000_keras, (2, 150, 150, 3)),
                         (networks.seed_001_keras, (4, 28, 28, 1))):
        model = build(pycnn).model
        _randomise_bn(model, rng)
        _check_plan(model, rng.random(shape).astype(np.float32))


def test_masked_inputs_run_the_layers(rng):
    model = pycnn.Sequential([layers.Input((5,)), layers.Embedding(10, 4, mask_zero=True),
                              layers.Dense(4), layers.BatchNormalization(),
                              layers.Activation("relu"), layers.LSTM(3)])
    _randomise_bn(model, rng)
    x = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0]], np.float32)
    _check_plan(model, x)


def test_nested_model_uses_its_plan(rng):
    inner = _residual_net()
    _randomise_bn(inner, rng)
    model = pycnn.Sequential([layers.Input((12, 12, 3)), inner, layers.Dense(2)])
    x = rng.standard_normal((2, 12, 12, 3)).astype(np.float32)
    _check_plan(model, x)
    assert_close(model(x), model.forward(x, training=False)[0], rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("net", ["residual", "chain"])
def test_fusion_can_be_turned_off(rng, net):
    if net == "residual":
        model = _residual_net()
        _randomise_bn(model, rng)
        x = rng.standard_normal((2, 12, 12, 3)).astype(np.float32)
    else:
        model = pycnn.Sequential([layers.Input((6, 6, 2)), layers.Conv2D(3, 3), layers.Flatten(),
                                  layers.Dense(2)])
        x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    _check_plan(model, x)
    try:
        inference.set_fusion(False)
        plan = _check_plan(model, x)
        assert all(isinstance(s, inference._LayerStep) for s in plan.steps)
        assert plan._compiled is None
    finally:
        inference.set_fusion(True)
    assert not all(isinstance(s, inference._LayerStep) for s in model._inference_plan().steps)


def test_fusion_env_is_read_at_import(tmp_path):
    import os
    import subprocess
    import sys
    code = ("from pycnn.models import inference; print(inference.fusion_enabled())")
    # The pycnn under test, wherever it is imported from (an install or a checkout).
    root = os.path.dirname(os.path.dirname(os.path.abspath(pycnn.__file__)))
    path = os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    for value, want in (("0", "False"), ("1", "True")):
        # cwd away from the checkout: `python -c` puts the cwd first on sys.path.
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=tmp_path, check=True,
                             env={**os.environ, "PYCNN_FUSE": value, "PYTHONPATH": path})
        assert out.stdout.strip() == want


# ----- folded weights follow weight changes ----------------------------------------
def test_folded_weights_follow_training_and_assignment(rng):
    model = _residual_net()
    model.compile(optimizer="adam", loss="mse")
    x = rng.standard_normal((4, 12, 12, 3)).astype(np.float32)
    y = rng.standard_normal((4, 6)).astype(np.float32)
    before = model.predict_on_batch(x)
    for _ in range(2):
        model.train_on_batch(x, y)  # weights and moving statistics change
        _check_plan(model, x)
    assert not np.allclose(before, model.predict_on_batch(x))
    stem = model.get_layer("stem")
    stem.kernel.assign(np.zeros(stem.kernel.shape))
    _check_plan(model, x)
    model.set_weights([w * 0.5 for w in model.get_weights()])
    _check_plan(model, x)


def test_predict_evaluate_and_call_agree(rng):
    model = _residual_net()
    _randomise_bn(model, rng)
    model.compile(optimizer="sgd", loss="mse")
    x = rng.standard_normal((5, 12, 12, 3)).astype(np.float32)
    ref, _ = model.forward(x, training=False)
    assert_close(model.predict(x, batch_size=2, verbose=0), ref, rtol=2e-5, atol=2e-5)
    assert_close(model(x), ref, rtol=2e-5, atol=2e-5)
    loss = model.evaluate(x, ref, verbose=0)
    assert loss < 1e-9


def test_sequential_plan_rebuilt_after_add_and_pop(rng):
    model = pycnn.Sequential([layers.Input((6, 6, 2)), layers.Conv2D(3, 3),
                              layers.BatchNormalization()])
    _randomise_bn(model, rng)
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    _check_plan(model, x)
    model.add(layers.Activation("relu"))
    assert (model.predict_on_batch(x) >= 0).all()
    _check_plan(model, x)
    model.pop()
    assert (model.predict_on_batch(x) < 0).any()


def test_bad_input_names_the_layer(rng):
    model = _residual_net()
    with pytest.raises(ValueError, match="incompatible"):
        model.predict_on_batch(np.zeros((2, 12, 12, 4), np.float32))
    seq = pycnn.Sequential([layers.Conv2D(3, 3), layers.BatchNormalization(),
                            layers.ReLU()])
    seq.build((None, 6, 6, 2))
    with pytest.raises(ValueError, match="incompatible"):
        seq.predict_on_batch(np.zeros((2, 6, 6, 5), np.float32))
    # A fused step handed a wrong input raises the conv layer's own error.
    step = seq._inference_plan().steps[0]
    with pytest.raises(ValueError, match=seq.layers[0].name):
        step.compute([np.zeros((2, 6, 6, 5), np.float32)])
    with pytest.raises(ValueError, match=seq.layers[0].name):
        step.compute([np.zeros((2, 6, 5), np.float32)])


# ----- conv + max pool in one pass -------------------------------------------------
CONV_POOL_CASES = [
    # x shape, kernel (kh, kw, cout), strides, dilation, pads, pool, pool strides, pool pads
    ((2, 28, 28, 1), (5, 5, 8), (1, 1), (1, 1), (2, 2, 2, 2), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((1, 150, 150, 3), (3, 3, 32), (1, 1), (1, 1), (1, 1, 1, 1), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((2, 75, 75, 32), (3, 3, 64), (1, 1), (1, 1), (1, 1, 1, 1), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((2, 17, 13, 5), (3, 2, 7), (2, 1), (1, 1), (0, 1, 1, 0), (3, 3), (2, 2), (1, 1, 1, 0)),
    ((3, 20, 9, 4), (3, 3, 17), (1, 1), (2, 2), (2, 2, 2, 2), (3, 2), (1, 2), (0, 2, 0, 1)),
    ((1, 9, 9, 2), (9, 9, 3), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (1, 1), (0, 0, 0, 0)),
    ((0, 8, 8, 2), (3, 3, 4), (1, 1), (1, 1), (1, 1, 1, 1), (2, 2), (2, 2), (0, 0, 0, 0)),
    # <= 4 inputs, 2x2/2 pool: pooled in the conv tiles without argmax (AVX-512):
    # odd conv sizes (a row and a column no window reads), a masked channel tail,
    # 2- and 4-pixel tiles, conv stride and dilation
    ((2, 15, 13, 3), (3, 3, 32), (1, 1), (1, 1), (1, 1, 1, 1), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((1, 14, 22, 1), (3, 3, 48), (1, 1), (1, 1), (1, 1, 1, 1), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((3, 9, 10, 4), (5, 5, 32), (1, 1), (1, 1), (2, 2, 2, 2), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((2, 20, 20, 3), (3, 3, 32), (2, 2), (1, 1), (1, 1, 1, 1), (2, 2), (2, 2), (0, 0, 0, 0)),
    ((1, 16, 16, 2), (3, 3, 40), (1, 1), (2, 2), (2, 2, 2, 2), (2, 2), (2, 2), (0, 0, 0, 0)),
]


@pytest.mark.parametrize("case", CONV_POOL_CASES)
@pytest.mark.parametrize("act", [0, 1])
def test_conv_maxpool_equals_conv_then_pool(isa, rng, case, act):
    from pycnn.ops import conv as conv_ops
    from pycnn.reference import conv as conv_ref
    shape, (kh, kw, cout), strides, dil, pads, pool, pstrides, ppads = case
    x = rng.standard_normal(shape).astype(np.float32)
    k = (rng.standard_normal((kh, kw, shape[3], cout)) * 0.3).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    z = conv_ops.conv2d_forward(x, k, b, strides, dil, pads, act)
    y_ref, a_ref = pool_ops.max_pool2d_forward(z, pool, pstrides, ppads)
    y, a = conv_ops.conv2d_maxpool_forward(x, k, b, strides, dil, pads, act, 0.0, pool,
                                           pstrides, ppads)
    np.testing.assert_array_equal(y, y_ref)  # same kernels: same bits
    np.testing.assert_array_equal(a, a_ref)
    y2, none = conv_ops.conv2d_maxpool_forward(x, k, b, strides, dil, pads, act, 0.0, pool,
                                               pstrides, ppads, with_argmax=False)
    assert none is None
    np.testing.assert_array_equal(y2, y_ref)
    if x.size and x.size < 100000:
        yr, _ = conv_ref.conv2d_maxpool_forward(x, k, b, strides, dil, pads, act, 0.0, pool,
                                                pstrides, ppads)
        assert_close(y, yr, rtol=1e-4, atol=1e-4)


def test_pooled_tiles_same_bits_any_thread_count_and_nan(rng):
    from pycnn.ops import conv as conv_ops
    x = rng.standard_normal((3, 41, 40, 3)).astype(np.float32)
    x[1, 7, 9, 2] = np.nan
    k = rng.standard_normal((3, 3, 3, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    z = conv_ops.conv2d_forward(x, k, b, pads=(1, 1, 1, 1), act=1)
    want, _ = pool_ops.max_pool2d_forward(z, (2, 2), (2, 2), (0, 0, 0, 0))
    assert np.isnan(want).any()
    before = pycnn.get_num_threads()
    try:
        for n in (1, 2):
            pycnn.set_num_threads(n)
            got, _ = conv_ops.conv2d_maxpool_forward(x, k, b, pads=(1, 1, 1, 1), act=1,
                                                     with_argmax=False)
            np.testing.assert_array_equal(got, want)
    finally:
        pycnn.set_num_threads(before)


def test_conv_maxpool_same_bits_any_thread_count(rng):
    from pycnn.ops import conv as conv_ops
    x = rng.standard_normal((3, 40, 40, 3)).astype(np.float32)
    k = rng.standard_normal((3, 3, 3, 16)).astype(np.float32)
    before = pycnn.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            pycnn.set_num_threads(n)
            outs.append(conv_ops.conv2d_maxpool_forward(x, k, None, pads=(1, 1, 1, 1), act=1))
    finally:
        pycnn.set_num_threads(before)
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize("bad", [
    dict(pool=(0, 2)), dict(pool_strides=(1, 0)), dict(pool_pads=(2, 0, 0, 0)),
    dict(pool=(40, 2)), dict(pads=(-1, 0, 0, 0)), dict(kernel_shape=(3, 3, 4, 8)),
])
def test_conv_maxpool_rejects_bad_geometry(bad):
    from pycnn.ops import conv as conv_ops
    x = np.zeros((1, 8, 8, 3), np.float32)
    k = np.zeros(bad.pop("kernel_shape", (3, 3, 3, 8)), np.float32)
    args = dict(pads=(1, 1, 1, 1), pool=(2, 2), pool_strides=(2, 2), pool_pads=(0, 0, 0, 0))
    args.update(bad)
    with pytest.raises(ValueError, match="conv2d_maxpool_forward"):
        conv_ops.conv2d_maxpool_forward(x, k, None, **args)


def _conv_pool_layers():
    return [layers.Conv2D(6, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
            layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(3, strides=2,
                                                                         padding="same"),
            layers.Flatten(), layers.Dense(3, activation="softmax")]


def test_sequential_training_with_fused_conv_pool_equals_functional(rng):
    """Sequential runs Conv(relu)->MaxPool as one kernel in training; a functional
    model of the same layers runs them apart: same losses and weights."""
    pycnn.utils.set_random_seed(3)
    seq = pycnn.Sequential([layers.Input((14, 14, 2))] + _conv_pool_layers())
    inp = layers.Input((14, 14, 2))
    x = inp
    for layer in _conv_pool_layers():
        x = layer(x)
    fun = pycnn.Model(inp, x)
    fun.set_weights(seq.get_weights())
    for m in (seq, fun):
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    xb = rng.standard_normal((5, 14, 14, 2)).astype(np.float32)
    yb = np.array([0, 1, 2, 1, 0])
    for _ in range(3):
        assert_close(seq.train_on_batch(xb, yb), fun.train_on_batch(xb, yb), rtol=1e-5,
                     atol=1e-6)
    for a, b in zip(seq.get_weights(), fun.get_weights()):
        assert_close(a, b, rtol=1e-4, atol=1e-6)
    kinds = _step_types(seq._inference_plan())
    assert kinds.count("_ConvStep") == 2 and "_MaxPoolStep" not in kinds
    _check_plan(seq, xb)
    _check_plan(fun, xb)


def test_subclass_with_own_forward_is_respected(rng):
    class Doubling(pycnn.Sequential):
        def forward(self, x, training=False):
            y, cache = super().forward(x, training)
            return y * 2, cache

    model = Doubling([layers.Input((3,)), layers.Dense(2)])
    x = rng.standard_normal((4, 3)).astype(np.float32)
    plain = x @ model.layers[0].kernel.numpy() + model.layers[0].bias.numpy()
    assert_close(model.predict_on_batch(x), 2 * plain, rtol=1e-5, atol=1e-6)
    assert_close(model(x), 2 * plain, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CONV_POOL_CASES[:5])
def test_conv_maxpool_with_packed_weights(isa, rng, case):
    from pycnn.ops import conv as conv_ops
    shape, (kh, kw, cout), strides, dil, pads, pool, pstrides, ppads = case
    x = rng.standard_normal(shape).astype(np.float32)
    k = (rng.standard_normal((kh, kw, shape[3], cout)) * 0.3).astype(np.float32)
    args = (None, strides, dil, pads, 1, 0.0, pool, pstrides, ppads)
    y, a = conv_ops.conv2d_maxpool_forward(x, k, *args)
    yp, ap = conv_ops.conv2d_maxpool_forward(x, k, *args, packed=conv_ops.conv2d_pack_weights(k))
    np.testing.assert_array_equal(y, yp)
    np.testing.assert_array_equal(a, ap)
    other = conv_ops.conv2d_pack_weights(np.zeros((kh, kw, shape[3], cout + 1), np.float32))
    with pytest.raises(ValueError, match="conv2d_maxpool_forward"):
        conv_ops.conv2d_maxpool_forward(x, k, *args, packed=other)


def test_packed_weights_follow_isa_switch(rng):
    """Packed copies are per ISA: switching the kernel path repacks them."""
    order = ["generic", "avx2", "avx512"]
    available = order[: order.index(pycnn._C.best_isa()) + 1]
    model = _residual_net()
    _randomise_bn(model, rng)
    x = rng.standard_normal((2, 12, 12, 3)).astype(np.float32)
    before = pycnn.get_isa()
    try:
        for isa in available + available[::-1]:
            pycnn.set_isa(isa)
            _check_plan(model, x)
    finally:
        pycnn.set_isa(before)


def _residual_plan_step(plan):
    return [s for s in plan.steps if getattr(s, "residual_key", None) is not None]


def test_residual_from_model_input_is_added_into_a_copy(rng):
    """Add(input, conv(input)): the user's array must not be written."""
    inp = layers.Input((5, 6, 4))
    y = layers.Conv2D(4, 3, padding="same")(inp)
    out = layers.Activation("relu")(layers.Add()([inp, y]))
    model = pycnn.Model(inp, out)
    x = rng.standard_normal((2, 5, 6, 4)).astype(np.float32)
    before = x.copy()
    plan = _check_plan(model, x)
    (step,) = _residual_plan_step(plan)
    assert not step.residual_in_place
    np.testing.assert_array_equal(x, before)


def test_residual_read_again_later_or_returned_is_not_overwritten(rng):
    inp = layers.Input((6, 6, 3))
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    b = layers.Conv2D(4, 1)(a)
    s = layers.Add()([a, b])                       # a is read again below
    c = layers.Conv2D(4, 1)(a)
    t = layers.Add()([s, c])
    model = pycnn.Model(inp, [t, s])               # s is also an output
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    plan = _check_plan(model, x)
    steps = _residual_plan_step(plan)
    assert len(steps) == 2 and not any(st.residual_in_place for st in steps)


def test_residual_with_broadcasting_add_runs_the_layers(rng):
    inp = layers.Input((4, 4, 3))
    short = layers.Input((1, 1, 5))
    y = layers.Conv2D(5, 3, padding="same")(inp)
    out = layers.Add()([y, short])
    model = pycnn.Model([inp, short], out)
    xs = [rng.standard_normal((2, 4, 4, 3)).astype(np.float32),
          rng.standard_normal((2, 1, 1, 5)).astype(np.float32)]
    y_ref, _ = model.forward(xs, training=False)
    assert_close(model.predict_on_batch(xs), y_ref, rtol=2e-5, atol=2e-5)


def test_seed000_head_folds_each_batchnorm_into_the_next_dense(rng):
    model = _bench_networks().seed_000_keras(pycnn).model
    _randomise_bn(model, rng)
    plan = _check_plan(model, rng.random((2, 150, 150, 3)).astype(np.float32))
    # Dense -> ReLU -> BN -> Dropout -> Dense: no BN or Dropout step is left,
    # so the whole network is one compiled chain.
    assert _step_types(plan) == ["_ConvStep", "_ConvStep", "_FlattenStep", "_DenseStep",
                                 "_DenseStep", "_DenseStep"]
    assert plan._compiled is not None


@pytest.mark.parametrize("bn_kwargs", [{}, {"center": False}, {"scale": False}])
def test_batchnorm_before_dense_on_the_last_axis(rng, bn_kwargs):
    inp = layers.Input((5, 6))
    x = layers.Dense(7, activation="tanh")(inp)
    x = layers.BatchNormalization(**bn_kwargs)(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(3, activation="relu", use_bias=False)(x)
    model = pycnn.Model(inp, out)
    _randomise_bn(model, rng)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    assert "_LayerStep" not in _step_types(_check_plan(model, x))
    model.compile(optimizer="adam", loss="mse")
    model.train_on_batch(x, rng.standard_normal((4, 5, 3)).astype(np.float32))
    _check_plan(model, x)   # moving statistics changed: folded again


def test_batchnorm_read_twice_is_not_folded(rng):
    inp = layers.Input((6,))
    x = layers.BatchNormalization()(layers.Dense(4, activation="relu")(inp))
    out = layers.Concatenate()([layers.Dense(2)(x), x])
    model = pycnn.Model(inp, out)
    _randomise_bn(model, rng)
    plan = _check_plan(model, rng.standard_normal((3, 6)).astype(np.float32))
    assert "_LayerStep" in _step_types(plan)
