"""LSTM / GRU kernels and layers: ops vs the NumPy reference (every ISA),
the reference vs finite differences, thread-count independence, and the
layers vs numbers recorded from Keras 3 with identical weights."""
import numpy as np
import pytest

import pycnn
from pycnn.layers.recurrent import GRU, LSTM
from pycnn.ops import rnn as ops
from pycnn.reference import rnn as ref
from pycnn.testing import assert_close, numerical_grad

ELU, SWISH, HARD_SIGMOID = 4, 7, 11


def _normal(rng, *shape, scale=0.5):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def _lstm_args(rng, batch, steps, in_dim, units, with_state):
    x = _normal(rng, batch, steps, in_dim, scale=1.0)
    weights = (_normal(rng, in_dim, 4 * units), _normal(rng, units, 4 * units),
               _normal(rng, 4 * units))
    states = (_normal(rng, batch, units), _normal(rng, batch, units)) if with_state \
        else (None, None)
    return x, weights, states


def _gru_args(rng, batch, steps, in_dim, units, with_state, reset_after):
    x = _normal(rng, batch, steps, in_dim, scale=1.0)
    bias_shape = (2, 3 * units) if reset_after else (3 * units,)
    weights = (_normal(rng, in_dim, 3 * units), _normal(rng, units, 3 * units),
               _normal(rng, *bias_shape))
    h0 = _normal(rng, batch, units) if with_state else None
    return x, weights, h0


SHAPES = [(3, 20, 5, 4), (1, 20, 1, 1), (4, 20, 7, 17), (2, 1, 3, 33)]


# ----- kernels vs reference ---------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_forward_backward_matches_reference(isa, rng, shape, with_state):
    batch, steps, in_dim, units = shape
    x, (k, rk, b), (h0, c0) = _lstm_args(rng, batch, steps, in_dim, units, with_state)
    got = ops.lstm_forward(x, k, rk, b, h0, c0)
    want = ref.lstm_forward(x, k, rk, b, h0, c0)
    for name, g, w in zip(["h_seq", "c_seq", "gates_pre", "gates"], got, want):
        assert_close(g, w, what=name)
    dh_seq = _normal(rng, batch, steps, units)
    dh_last, dc_last = _normal(rng, batch, units), _normal(rng, batch, units)
    got_g = ops.lstm_backward(x, k, rk, h0, c0, *got, dh_seq, dh_last, dc_last)
    want_g = ref.lstm_backward(x, k, rk, h0, c0, *want, dh_seq, dh_last, dc_last)
    for name, g, w in zip(["dx", "dkernel", "drecurrent", "dbias", "dh0", "dc0"], got_g, want_g):
        assert_close(g, w, what=name)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_forward_backward_matches_reference(isa, rng, shape, with_state, reset_after):
    batch, steps, in_dim, units = shape
    x, (k, rk, b), h0 = _gru_args(rng, batch, steps, in_dim, units, with_state, reset_after)
    got = ops.gru_forward(x, k, rk, b, h0, reset_after)
    want = ref.gru_forward(x, k, rk, b, h0, reset_after)
    for name, g, w in zip(["h_seq", "gates_pre", "gates", "rec_h"], got, want):
        assert_close(g, w, what=name)
    dh_seq, dh_last = _normal(rng, batch, steps, units), _normal(rng, batch, units)
    got_g = ops.gru_backward(x, k, rk, h0, *got, dh_seq, dh_last, reset_after)
    want_g = ref.gru_backward(x, k, rk, h0, *want, dh_seq, dh_last, reset_after)
    for name, g, w in zip(["dx", "dkernel", "drecurrent", "dbias", "dh0"], got_g, want_g):
        assert_close(g, w, what=name)


@pytest.mark.parametrize("act,gate_act", [(ELU, SWISH), (0, 2), (3, HARD_SIGMOID)])
def test_other_activations_match_reference(isa, rng, act, gate_act):
    acts = dict(act=act, gate_act=gate_act)
    x, (k, rk, b), (h0, c0) = _lstm_args(rng, 2, 6, 3, 5, True)
    got = ops.lstm_forward(x, k, rk, b, h0, c0, **acts)
    want = ref.lstm_forward(x, k, rk, b, h0, c0, **acts)
    assert_close(got[0], want[0], what="lstm h")
    dh = _normal(rng, 2, 6, 5)
    for g, w in zip(ops.lstm_backward(x, k, rk, h0, c0, *got, dh, **acts),
                    ref.lstm_backward(x, k, rk, h0, c0, *want, dh, **acts)):
        assert_close(g, w)
    x, (k, rk, b), h0 = _gru_args(rng, 2, 6, 3, 5, True, True)
    got = ops.gru_forward(x, k, rk, b, h0, **acts)
    want = ref.gru_forward(x, k, rk, b, h0, **acts)
    assert_close(got[0], want[0], what="gru h")
    for g, w in zip(ops.gru_backward(x, k, rk, h0, *got, dh, **acts),
                    ref.gru_backward(x, k, rk, h0, *want, dh, **acts)):
        assert_close(g, w)


def test_backward_without_dx_bias_or_output_grads(rng):
    x, (k, rk, b), _ = _lstm_args(rng, 2, 5, 3, 4, False)
    fwd = ops.lstm_forward(x, k, rk, None)
    dx, dk, drec, db, dh0, dc0 = ops.lstm_backward(x, k, rk, None, None, *fwd,
                                                   need_dx=False, use_bias=False)
    assert dx is None and db is None
    assert not dk.any() and not drec.any() and not dh0.any() and not dc0.any()


# ----- reference vs finite differences -------------------------------------
def _check_reference_grads(forward, backward, args, names, dh_seq, dh_last):
    """Loss = sum(h_seq * dh_seq) + sum(h_last * dh_last); compare the
    reference's BPTT with central differences for each named argument."""
    def loss_of(name):
        def f(value):
            kw = dict(args, **{name: value})
            h_seq = forward(**kw)[0]
            return float(np.sum(h_seq * dh_seq) + np.sum(h_seq[:, -1] * dh_last))
        return f
    grads = backward(args)
    for name in names:
        assert_close(grads[name], numerical_grad(loss_of(name), args[name], eps=1e-5),
                     rtol=1e-6, atol=1e-7, what=name)


def test_lstm_reference_grads_vs_finite_differences(rng):
    x, (k, rk, b), (h0, c0) = _lstm_args(rng, 2, 4, 3, 2, True)
    args = dict(x=x, kernel=k, recurrent_kernel=rk, bias=b, h0=h0, c0=c0)
    dh_seq, dh_last = rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 2))

    def backward(a):
        fwd = ref.lstm_forward(**a)
        dx, dk, drec, db, dh0, dc0 = ref.lstm_backward(
            a["x"], a["kernel"], a["recurrent_kernel"], a["h0"], a["c0"], *fwd,
            dh_seq, dh_last)
        return dict(x=dx, kernel=dk, recurrent_kernel=drec, bias=db, h0=dh0, c0=dc0)
    _check_reference_grads(ref.lstm_forward, backward, args, list(args), dh_seq, dh_last)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_reference_grads_vs_finite_differences(rng, reset_after):
    x, (k, rk, b), h0 = _gru_args(rng, 2, 4, 3, 2, True, reset_after)
    args = dict(x=x, kernel=k, recurrent_kernel=rk, bias=b, h0=h0, reset_after=reset_after)
    dh_seq, dh_last = rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 2))

    def backward(a):
        fwd = ref.gru_forward(**a)
        dx, dk, drec, db, dh0 = ref.gru_backward(
            a["x"], a["kernel"], a["recurrent_kernel"], a["h0"], *fwd, dh_seq, dh_last,
            reset_after=reset_after)
        return dict(x=dx, kernel=dk, recurrent_kernel=drec, bias=db, h0=dh0)
    names = ["x", "kernel", "recurrent_kernel", "bias", "h0"]
    _check_reference_grads(ref.gru_forward, backward, args, names, dh_seq, dh_last)


# ----- threads ------------------------------------------------------------
def test_results_identical_with_one_and_two_threads(rng):
    x, (k, rk, b), (h0, c0) = _lstm_args(rng, 64, 12, 48, 96, True)
    dh = _normal(rng, 64, 12, 96)
    gx, (gk, grk, gb), _ = _gru_args(rng, 64, 12, 48, 96, False, True)
    before = pycnn.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            pycnn.set_num_threads(n)
            lf = ops.lstm_forward(x, k, rk, b, h0, c0)
            lb = ops.lstm_backward(x, k, rk, h0, c0, *lf, dh)
            gf = ops.gru_forward(gx, gk, grk, gb)
            gbw = ops.gru_backward(gx, gk, grk, None, *gf, dh)
            results.append(list(lf) + list(lb) + list(gf) + list(gbw))
    finally:
        pycnn.set_num_threads(before)
    for a, c in zip(*results):
        np.testing.assert_array_equal(a, c)


# ----- argument checks in the kernels -------------------------------------------
def test_kernel_shape_errors(rng):
    x, (k, rk, b), _ = _lstm_args(rng, 2, 3, 4, 5, False)
    with pytest.raises(ValueError):
        ops.lstm_forward(x, k[:3], rk, b)
    with pytest.raises(ValueError):
        ops.lstm_forward(x, k, rk, b[:-1])
    with pytest.raises(ValueError):
        ops.lstm_forward(x[0], k, rk, b)
    with pytest.raises(ValueError):
        ops.gru_forward(x, k[:, :15], rk[:, :15], np.zeros(15, np.float32), reset_after=True)
    with pytest.raises(ValueError):
        ops.lstm_forward(x, k, rk, b, act=10)


# Keras 3.15 (JAX backend) results for the weights and inputs of _keras_case():
# outputs, gradients of the weights (Keras order) and of the input, for the
# loss sum_k sum(output_k * cos(0.37 * arange(size))).
KERAS_EXPECTED = {
    'lstm': dict(
        outputs=[
            [[[-0.0386893, 0.0653462], [-0.3424468, -0.1821464], [-0.1498116, -0.3177095], [-0.1195402,
            -0.0980026]], [[-0.3196481, -0.1965943], [-0.1431084, -0.3164164], [-0.1138065,
            -0.0968565], [-0.3434032, -0.251346]]],
            [[-0.1195402, -0.0980026], [-0.3434032, -0.251346]],
            [[-0.2181885, -0.1894589], [-0.6871765, -0.3675435]],
        ],
        grads=[
            [[-0.1035362, -0.0775034, -0.0054863, -0.0337331, 0.175438, 0.2889195, -0.0895211, -0.237865],
            [-0.0039937, 0.0295731, -0.1261015, -0.1328667, 0.9159026, 0.4353601, -0.0500758,
            -0.2178989], [0.0974271, 0.1227408, -0.1874093, -0.169511, 1.2256039, 0.3770442,
            0.0129209, -0.0954516]],
            [[0.0491936, 0.0052443, 0.0716285, 0.0342549, -0.2666045, -0.1282557, 0.0358754, -0.0750491],
            [0.0235998, -0.0123034, 0.1066127, 0.0685845, -0.3993398, -0.1678295, 0.0221215,
            -0.0443218]],
            [-0.3133881, 0.0129653, -0.418309, -0.2370862, 2.2174447, 0.9253951, -0.2004935, 0.2379771],
        ],
        dx=[[[-0.2360895, 0.1008126, 0.3587486], [-0.1886134, 0.0226471, 0.2161681], [-0.0621093,
            0.0284448, 0.0967182], [-0.1348189, 0.3710563, 0.5862841]], [[0.1750365,
            -0.1109257, -0.3100001], [0.0931567, 0.0422636, -0.0417345], [-0.104035, 0.1129246,
            0.2414307], [-0.3337845, 0.2549922, 0.6440342]]]),
    'lstm_back': dict(
        outputs=[
            [[-0.1572814, -0.0604211], [-0.3597541, -0.306642]],
            [[-0.1572814, -0.0604211], [-0.3597541, -0.306642]],
            [[-0.2858904, -0.1096121], [-0.7696216, -0.4678371]],
        ],
        grads=[
            [[-0.1437609, -0.0850839, -0.1515698, -0.1106076, 0.3489204, 0.3910383, -0.2836538,
            -0.0798019], [-0.0068581, 0.0120292, -0.2576547, -0.1541646, 0.8518081, 0.5390269,
            -0.1563517, -0.1188325], [0.1332701, 0.1034848, -0.2425605, -0.1252156, 0.9540772,
            0.4335028, 0.0444851, -0.1019744]],
            [[0.0672815, -0.0063044, 0.1598645, 0.0840304, -0.5899987, -0.3089742, 0.0962707, 0.0082507],
            [0.0902315, 0.0166749, 0.1616517, 0.0930168, -0.5535084, -0.3484752, 0.140351,
            0.0200918]],
            [-0.5602521, -0.073313, -0.6536968, -0.3448488, 2.7720814, 1.2117991, -0.616865, 0.0512056],
        ],
        dx=[[[-0.3546624, 0.5893062, 1.0716728], [-0.2363501, 0.04713, 0.2936933], [-0.089344, -0.0045225,
            0.0838414], [-0.0979768, 0.0002338, 0.0982613]], [[-0.3206581, 0.2389412,
            0.6113786], [-0.1137557, 0.0180336, 0.1356973], [-0.1007938, 0.0457248, 0.1564272],
            [-0.0442238, -0.0441974, -0.0095513]]]),
    'gru': dict(
        outputs=[
            [[[-0.236223, -0.1724553], [-0.3787201, -0.2416108], [0.1653919, -0.0793708], [-0.0981774,
            -0.2264329]], [[-0.1819481, -0.1186285], [0.2572409, 0.0004616], [-0.0170337,
            -0.1665644], [-0.1976692, -0.2213334]]],
            [[-0.0981774, -0.2264329], [-0.1976692, -0.2213334]],
        ],
        grads=[
            [[0.130371, -0.0170661, 0.0022333, -0.0055112, -0.0178231, 0.1869082], [0.3773347, 0.1597916,
            0.0158302, -0.0053823, 0.1185047, 0.191992], [0.446832, 0.2614969, 0.0219819,
            -0.002722, 0.1990979, 0.106779]],
            [[0.0549433, 0.0207767, 0.0012762, -0.0008073, -0.0379982, 0.0226738], [-0.0307305, -0.0154939,
            -0.002727, 5.53e-05, -0.0573876, -0.0086463]],
            [[0.5593408, 0.2984551, 0.0260343, 0.0018324, 0.655979, 0.1719806], [0.5593408, 0.2984551,
            0.0260343, 0.0018324, 0.4478859, 0.0481661]],
        ],
        dx=[[[0.0976171, 0.0771706, 0.0003421], [0.0120992, -0.0546657, -0.0814911], [-0.151432,
            -0.1175448, 0.0022222], [0.0227554, 0.0125965, -0.0067656]], [[-0.0461435,
            0.0843705, 0.1532421], [0.0479487, 0.0441937, 0.0081502], [0.0724293, 0.0677884,
            0.0136203], [0.044566, -0.1230023, -0.2007033]]]),
    'gru_back_seq': dict(
        outputs=[
            [[[-0.2357098, -0.1712037], [0.2299279, -0.0240291], [0.014337, -0.1239913], [-0.2266013,
            -0.2619526]], [[-0.1813313, -0.1161431], [-0.3834795, -0.2563623], [0.1602546,
            -0.0913369], [-0.0465016, -0.167027]]],
        ],
        grads=[
            [[-0.0870908, -0.0658466, -0.0184822, 0.0143498, -0.3589181, -0.4984218], [0.0097936,
            -0.0075963, -0.0091413, 0.0125624, -0.2821594, -0.3337211], [0.1020719, 0.0542266,
            0.0044989, 0.0048666, -0.0726966, -0.0120661]],
            [[0.0346267, 0.0122337, -0.0015975, 0.0046837, -0.0337653, -0.078406], [0.0351972, 0.0240265,
            -0.0007047, 0.0032426, -0.0179111, -0.0471561]],
            [[-0.2973234, -0.164611, -0.0096915, -0.0064947, 0.0155528, -0.1652118], [-0.2973234,
            -0.164611, -0.0096915, -0.0064947, 0.0227357, 0.0086023]],
        ],
        dx=[[[-0.0476932, -0.0431248, -0.0070488], [-0.0392809, 0.0689539, 0.12681], [-0.1059462,
            -0.0878233, -0.0055355], [0.0696629, 0.0606236, 0.0072918]], [[0.0309469,
            -0.0637062, -0.1118147], [-0.0374147, -0.2184634, -0.2398997], [-0.0283793,
            -0.0171994, 0.0065466], [-0.0567649, 0.1195326, 0.2084979]]]),
    'gru_reset_before': dict(
        outputs=[
            [[-0.200752, -0.2203081], [-0.2775176, -0.2316422]],
        ],
        grads=[
            [[0.3094209, 0.0920881, 0.0310624, 0.009836, -0.5124122, -0.1346623], [0.4572574, 0.2054017,
            0.0401267, 0.0108809, -0.5651306, -0.2620544], [0.3900385, 0.2221116, 0.0303188,
            0.0068083, -0.3520592, -0.2661982]],
            [[0.0710551, 0.0322905, 0.0178228, 0.0038718, -0.1182478, -0.088606], [0.0257602, 0.0116769,
            0.0130403, 0.002726, -0.1000754, -0.0717217]],
            [0.3378823, 0.1946101, -0.0518361, -0.0114175, 1.1090901, 0.8461795],
        ],
        dx=[[[0.0332672, 0.0278161, 0.0020422], [0.0187152, -0.0389991, -0.06822], [-0.27271, -0.5585804,
            -0.436344], [0.1015135, 0.0953952, 0.0195797]], [[0.0141939, -0.0104166,
            -0.0274166], [-0.1658857, -0.2638161, -0.1689986], [0.05891, 0.0485584, 0.0027294],
            [0.0318146, -0.0499239, -0.0951874]]]),
}


# ----- layers -------------------------------------------------------------
def _keras_case():
    batch, steps, in_dim, units = 2, 4, 3, 2
    x = (np.sin(np.arange(batch * steps * in_dim) * 0.7) * 0.9).reshape(
        batch, steps, in_dim).astype(np.float32)

    def w(shape, s):
        n = int(np.prod(shape))
        return (np.cos(np.arange(n) * s + 0.3) * 0.6).reshape(shape).astype(np.float32)
    lstm_w = [w((in_dim, 4 * units), 0.9), w((units, 4 * units), 1.3), w((4 * units,), 0.7)]
    gru_w = [w((in_dim, 3 * units), 0.9), w((units, 3 * units), 1.3), w((2, 3 * units), 0.7)]
    gru_before_w = gru_w[:2] + [w((3 * units,), 0.7)]
    layers = {
        "lstm": (LSTM(units, return_sequences=True, return_state=True), lstm_w),
        "lstm_back": (LSTM(units, go_backwards=True, return_state=True), lstm_w),
        "gru": (GRU(units, return_sequences=True, return_state=True), gru_w),
        "gru_back_seq": (GRU(units, return_sequences=True, go_backwards=True), gru_w),
        "gru_reset_before": (GRU(units, reset_after=False), gru_before_w),
    }
    return x, layers


@pytest.mark.parametrize("case", sorted(KERAS_EXPECTED))
def test_layers_match_keras(isa, case):
    x, layers = _keras_case()
    layer, weights = layers[case]
    layer(x)
    layer.set_weights(weights)
    y, cache = layer.forward(x, training=True)
    ys = y if isinstance(y, list) else [y]
    dys = [np.cos(np.arange(o.size).reshape(o.shape) * 0.37).astype(np.float32) for o in ys]
    dx, grads = layer.backward(cache, dys if isinstance(y, list) else dys[0])
    expected = KERAS_EXPECTED[case]
    assert len(ys) == len(expected["outputs"])
    for got, want in zip(ys, expected["outputs"]):
        assert_close(got, np.array(want), what="output")
    for got, want in zip(grads, expected["grads"]):
        assert_close(got, np.array(want), what="weight grad")
    assert_close(dx, np.array(expected["dx"]), what="dx")


def test_lstm_weights_layout_and_init():
    layer = LSTM(5)
    layer.build((None, 7, 3))
    names = [(w.name, w.path, w.shape) for w in layer.weights]
    assert names == [("kernel", f"{layer.name}/lstm_cell/kernel", (3, 20)),
                     ("recurrent_kernel", f"{layer.name}/lstm_cell/recurrent_kernel", (5, 20)),
                     ("bias", f"{layer.name}/lstm_cell/bias", (20,))]
    bias = layer.bias.numpy()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    rk = layer.recurrent_kernel.numpy()  # orthogonal (u, 4u): orthonormal rows
    assert_close(rk @ rk.T, np.eye(5), what="orthogonal")
    assert layer.count_params() == 4 * 5 * (3 + 5 + 1)
    assert LSTM(5, unit_forget_bias=False).get_config()["unit_forget_bias"] is False


def test_gru_weights_layout():
    layer = GRU(4)
    layer.build((None, None, 6))
    assert [w.shape for w in layer.weights] == [(6, 12), (4, 12), (2, 12)]
    assert layer.weights[2].path == f"{layer.name}/gru_cell/bias"
    layer = GRU(4, reset_after=False, use_bias=False)
    layer.build((None, None, 6))
    assert [w.shape for w in layer.weights] == [(6, 12), (4, 12)]


@pytest.mark.parametrize("cls,states", [(LSTM, 2), (GRU, 1)])
def test_output_shapes(rng, cls, states):
    x = _normal(rng, 3, 20, 4)
    for seq in (False, True):
        for ret_state in (False, True):
            layer = cls(6, return_sequences=seq, return_state=ret_state)
            out = layer(x)
            want = (3, 20, 6) if seq else (3, 6)
            sym = layer.compute_output_shape((None, 20, 4))
            if ret_state:
                assert isinstance(out, list) and len(out) == 1 + states
                assert [o.shape for o in out] == [want] + [(3, 6)] * states
                assert sym == [(None,) + want[1:]] + [(None, 6)] * states
                np.testing.assert_array_equal(out[1], out[0][:, -1] if seq else out[0])
            else:
                assert out.shape == want and sym == (None,) + want[1:]


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_layer_matches_reference_over_20_steps(isa, rng, cls):
    x = _normal(rng, 3, 20, 5, scale=1.0)
    layer = cls(7, return_sequences=True, go_backwards=True)
    layer(x)
    y, cache = layer.forward(x)
    k, rk, b = (w.numpy() for w in layer.weights)
    xr = x[:, ::-1]
    if cls is LSTM:
        want = ref.lstm_forward(xr, k, rk, b)[0]
    else:
        want = ref.gru_forward(xr, k, rk, b)[0]
    assert_close(y, want)
    dy = _normal(rng, *y.shape)
    dx, grads = layer.backward(cache, dy)
    if cls is LSTM:
        want_g = ref.lstm_backward(xr, k, rk, None, None, *ref.lstm_forward(xr, k, rk, b), dy)
    else:
        want_g = ref.gru_backward(xr, k, rk, None, *ref.gru_forward(xr, k, rk, b), dy)
    assert_close(dx, want_g[0][:, ::-1], what="dx")
    for g, w in zip(grads, want_g[1:4]):
        assert_close(g, w)


def test_state_outputs_without_gradient_and_frozen_layer(rng):
    x = _normal(rng, 2, 5, 3)
    layer = LSTM(4, return_state=True)
    layer(x)
    (out, h, c), cache = layer.forward(x)
    dy = _normal(rng, 2, 4)
    # placeholders for outputs that do not reach the loss, as Model sends them
    dx1, g1 = layer.backward(cache, [dy, np.zeros(1, np.float32), np.zeros(1, np.float32)])
    dx2, g2 = layer.backward(cache, [dy, None, None])
    np.testing.assert_array_equal(dx1, dx2)
    # h is the output: a gradient on either one is the same
    dx3, _ = layer.backward(cache, [np.zeros(1, np.float32), dy, np.zeros(1, np.float32)])
    np.testing.assert_array_equal(dx1, dx3)
    layer.trainable = False
    _, grads = layer.backward(cache, [dy, None, None])
    assert grads == []


def test_input_dropout_in_training_only(rng):
    x = _normal(rng, 4, 6, 8)
    layer = LSTM(3, dropout=0.5, seed=1)
    layer(x)
    y_inf, _ = layer.forward(x, training=False)
    np.testing.assert_array_equal(y_inf, layer(x))
    y_train, cache = layer.forward(x, training=True)
    mask = cache[1]
    assert mask.shape == (4, 1, 8) and set(np.unique(mask)) <= {0.0, 2.0}
    k, rk, b = (w.numpy() for w in layer.weights)
    assert_close(y_train, ref.lstm_forward(x * mask, k, rk, b)[0][:, -1])
    dx, _ = layer.backward(cache, np.ones_like(y_train))
    assert not dx[np.broadcast_to(mask == 0, dx.shape)].any()


def test_layer_argument_errors(rng):
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, dropout=1.5)
    with pytest.raises(NotImplementedError):
        LSTM(3, stateful=True)
    with pytest.warns(UserWarning, match="recurrent_dropout"):
        LSTM(3, recurrent_dropout=0.2)
    with pytest.raises(ValueError, match="lstm"):
        LSTM(3, name="lstm_bad")(_normal(rng, 2, 3))
    layer = GRU(3, name="gru_shape")
    layer(_normal(rng, 2, 4, 5))
    with pytest.raises(ValueError, match="gru_shape"):
        layer.forward(_normal(rng, 2, 4, 6))


@pytest.mark.parametrize("cls,expected", [
    (LSTM, dict(pred=[-0.1481599658727646, 0.7178490161895752, 0.3156309425830841,
                      0.059822648763656616],
                loss=[0.20746168494224548, 0.1956099271774292, 0.18526166677474976],
                kernel_sum=7.078433990478516)),
    (GRU, dict(pred=[-0.5649662017822266, -0.03110329806804657, 0.19319728016853333,
                     -0.27612218260765076],
               loss=[0.31085944175720215, 0.14821195602416992, 0.08256638795137405],
               kernel_sum=5.085834503173828))])
def test_hard_sigmoid_gates_match_keras(cls, expected):
    # Keras 2's recurrent default; Keras 3 takes any activation. Inputs span
    # the flat parts of relu6(x + 3) / 6. Values from Keras 3.15 (TensorFlow).
    C = pycnn.initializers.Constant
    rng = np.random.default_rng(2)
    x = (rng.random((4, 6, 2)).astype(np.float32) - 0.5) * 8
    y = rng.random((4, 1)).astype(np.float32)
    model = pycnn.Sequential([
        pycnn.Input((6, 2)),
        cls(3, recurrent_activation="hard_sigmoid", kernel_initializer=C(0.3),
            recurrent_initializer=C(-0.2), bias_initializer=C(0.1)),
        pycnn.layers.Dense(1, kernel_initializer=C(0.5))])
    model.compile(optimizer=pycnn.optimizers.SGD(0.1), loss="mse")
    np.testing.assert_allclose(model.predict(x, verbose=0).ravel(), expected["pred"],
                               rtol=1e-5, atol=1e-6)
    history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=1e-5)
    assert model.layers[0].get_weights()[0].sum() == pytest.approx(expected["kernel_sum"],
                                                                   rel=1e-5)
    assert model.layers[0].get_config()["recurrent_activation"] == "hard_sigmoid"

