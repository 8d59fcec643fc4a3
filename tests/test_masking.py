"""Keras 3 masking: Embedding(mask_zero=True) -> LSTM / GRU. Kernels with a
(batch, time) mask vs the NumPy reference (every ISA), the masked reference
vs finite differences, thread-count independence, and a text model against
numbers recorded from Keras 3 (/opt/kerasenv, JAX backend) with the same
weights, for inputs with leading and trailing zeros."""
import numpy as np
import pytest

import pycnn
from pycnn.layers import Dense, Embedding, SpatialDropout1D
from pycnn.layers.recurrent import GRU, LSTM
from pycnn.ops import rnn as ops
from pycnn.reference import rnn as ref
from pycnn.testing import assert_close, numerical_grad


def _normal(rng, *shape, scale=0.5):
    return (rng.normal(size=shape) * scale).astype(np.float32)


def _mask(rng, batch, steps):
    """Random mask with a leading and a trailing masked run, and one sample
    masked everywhere (its outputs stay the initial state)."""
    m = rng.random((batch, steps)) < 0.6
    m[0, :2] = False
    m[-1, -2:] = False
    if batch > 2:
        m[1] = False
    return m


SHAPES = [(3, 9, 5, 4), (1, 6, 1, 1), (4, 7, 7, 17), (5, 5, 3, 33), (2, 1, 3, 2)]


# ----- kernels vs reference ---------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_state", [False, True])
def test_masked_lstm_matches_reference(isa, rng, shape, with_state):
    batch, steps, in_dim, units = shape
    x = _normal(rng, batch, steps, in_dim, scale=1.0)
    k, rk, b = (_normal(rng, in_dim, 4 * units), _normal(rng, units, 4 * units),
                _normal(rng, 4 * units))
    h0, c0 = (_normal(rng, batch, units), _normal(rng, batch, units)) if with_state \
        else (None, None)
    mask = _mask(rng, batch, steps)
    got = ops.lstm_forward(x, k, rk, b, h0, c0, mask=mask)
    want = ref.lstm_forward(x, k, rk, b, h0, c0, mask=mask)
    for name, g, w in zip(["h_seq", "c_seq"], got, want):
        assert_close(g, w, what=name)
    dh_seq = _normal(rng, batch, steps, units)
    dh_last, dc_last = _normal(rng, batch, units), _normal(rng, batch, units)
    got_g = ops.lstm_backward(x, k, rk, h0, c0, *got, dh_seq, dh_last, dc_last, mask=mask)
    want_g = ref.lstm_backward(x, k, rk, h0, c0, *want, dh_seq, dh_last, dc_last, mask=mask)
    for name, g, w in zip(["dx", "dkernel", "drecurrent", "dbias", "dh0", "dc0"], got_g, want_g):
        assert_close(g, w, what=name)
    # A masked step's input gets no gradient.
    assert not got_g[0][~mask].any()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reset_after", [True, False])
def test_masked_gru_matches_reference(isa, rng, shape, reset_after):
    batch, steps, in_dim, units = shape
    x = _normal(rng, batch, steps, in_dim, scale=1.0)
    k, rk = _normal(rng, in_dim, 3 * units), _normal(rng, units, 3 * units)
    b = _normal(rng, *((2, 3 * units) if reset_after else (3 * units,)))
    h0 = _normal(rng, batch, units)
    mask = _mask(rng, batch, steps)
    got = ops.gru_forward(x, k, rk, b, h0, reset_after, mask=mask)
    want = ref.gru_forward(x, k, rk, b, h0, reset_after, mask=mask)
    assert_close(got[0], want[0], what="h_seq")
    dh_seq, dh_last = _normal(rng, batch, steps, units), _normal(rng, batch, units)
    got_g = ops.gru_backward(x, k, rk, h0, *got, dh_seq, dh_last, reset_after, mask=mask)
    want_g = ref.gru_backward(x, k, rk, h0, *want, dh_seq, dh_last, reset_after, mask=mask)
    for name, g, w in zip(["dx", "dkernel", "drecurrent", "dbias", "dh0"], got_g, want_g):
        assert_close(g, w, what=name)
    assert not got_g[0][~mask].any()


def test_all_ones_mask_equals_no_mask(rng):
    x, k, rk, b = (_normal(rng, 3, 5, 4), _normal(rng, 4, 12), _normal(rng, 3, 12),
                   _normal(rng, 12))
    ones = np.ones((3, 5), bool)
    for a, c in zip(ops.lstm_forward(x, k, rk, b), ops.lstm_forward(x, k, rk, b, mask=ones)):
        np.testing.assert_array_equal(a, c)


def test_masked_steps_carry_state(rng):
    x, k, rk, b = (_normal(rng, 2, 6, 3), _normal(rng, 3, 8), _normal(rng, 2, 8),
                   _normal(rng, 8))
    mask = np.array([[0, 1, 1, 0, 0, 1], [1, 0, 1, 1, 0, 0]], bool)
    h_seq, c_seq, _, _ = ops.lstm_forward(x, k, rk, b, mask=mask)
    assert not h_seq[0, 0].any() and not c_seq[0, 0].any()
    np.testing.assert_array_equal(h_seq[0, 3], h_seq[0, 2])
    np.testing.assert_array_equal(h_seq[0, 4], h_seq[0, 2])
    np.testing.assert_array_equal(c_seq[1, 5], c_seq[1, 3])
    g_seq = ops.gru_forward(x, k[:, :6], rk[:, :6], None, mask=mask)[0]
    np.testing.assert_array_equal(g_seq[1, 1], g_seq[1, 0])


def test_mask_shape_error(rng):
    x, k, rk = _normal(rng, 2, 4, 3), _normal(rng, 3, 8), _normal(rng, 2, 8)
    with pytest.raises(ValueError, match="mask"):
        ops.lstm_forward(x, k, rk, mask=np.ones((2, 5), bool))
    with pytest.raises(ValueError, match="mask"):
        ops.gru_forward(x, k[:, :6], rk[:, :6], mask=np.ones((4, 2), bool))


# ----- reference vs finite differences -------------------------------------
def _check_grads(forward, backward, args, names, dh_seq, dh_last):
    def loss_of(name):
        def f(value):
            h_seq = forward(**dict(args, **{name: value}))[0]
            return float(np.sum(h_seq * dh_seq) + np.sum(h_seq[:, -1] * dh_last))
        return f
    grads = backward(args)
    for name in names:
        assert_close(grads[name], numerical_grad(loss_of(name), args[name], eps=1e-5),
                     rtol=1e-6, atol=1e-7, what=name)


def test_masked_lstm_reference_grads_vs_finite_differences(rng):
    mask = np.array([[0, 1, 0, 1, 1], [1, 1, 0, 0, 1], [1, 0, 1, 0, 0]], bool)
    args = dict(x=rng.normal(size=(3, 5, 3)), kernel=rng.normal(size=(3, 8)) * 0.5,
                recurrent_kernel=rng.normal(size=(2, 8)) * 0.5, bias=rng.normal(size=8),
                h0=rng.normal(size=(3, 2)), c0=rng.normal(size=(3, 2)), mask=mask)
    dh_seq, dh_last = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 2))

    def backward(a):
        fwd = ref.lstm_forward(**a)
        dx, dk, drec, db, dh0, dc0 = ref.lstm_backward(
            a["x"], a["kernel"], a["recurrent_kernel"], a["h0"], a["c0"], *fwd, dh_seq,
            dh_last, mask=mask)
        return dict(x=dx, kernel=dk, recurrent_kernel=drec, bias=db, h0=dh0, c0=dc0)
    _check_grads(ref.lstm_forward, backward, args,
                 ["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"], dh_seq, dh_last)


@pytest.mark.parametrize("reset_after", [True, False])
def test_masked_gru_reference_grads_vs_finite_differences(rng, reset_after):
    mask = np.array([[0, 1, 0, 1, 1], [1, 1, 0, 0, 1], [1, 0, 1, 0, 0]], bool)
    bias = rng.normal(size=(2, 6) if reset_after else 6)
    args = dict(x=rng.normal(size=(3, 5, 3)), kernel=rng.normal(size=(3, 6)) * 0.5,
                recurrent_kernel=rng.normal(size=(2, 6)) * 0.5, bias=bias,
                h0=rng.normal(size=(3, 2)), reset_after=reset_after, mask=mask)
    dh_seq, dh_last = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 2))

    def backward(a):
        fwd = ref.gru_forward(**a)
        dx, dk, drec, db, dh0 = ref.gru_backward(
            a["x"], a["kernel"], a["recurrent_kernel"], a["h0"], *fwd, dh_seq, dh_last,
            reset_after=reset_after, mask=mask)
        return dict(x=dx, kernel=dk, recurrent_kernel=drec, bias=db, h0=dh0)
    _check_grads(ref.gru_forward, backward, args,
                 ["x", "kernel", "recurrent_kernel", "bias", "h0"], dh_seq, dh_last)


# ----- threads ----------------------------------------------------------------
def test_masked_results_identical_with_one_and_two_threads(rng):
    batch, steps, in_dim, units = 33, 9, 24, 80
    x = _normal(rng, batch, steps, in_dim, scale=1.0)
    k, rk, b = (_normal(rng, in_dim, 4 * units), _normal(rng, units, 4 * units),
                _normal(rng, 4 * units))
    mask = _mask(rng, batch, steps)
    dh = _normal(rng, batch, steps, units)
    before = pycnn.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            pycnn.set_num_threads(n)
            fwd = ops.lstm_forward(x, k, rk, b, mask=mask)
            bwd = ops.lstm_backward(x, k, rk, None, None, *fwd, dh, mask=mask)
            gf = ops.gru_forward(x, k[:, :3 * units], rk[:, :3 * units], None, mask=mask)
            gb = ops.gru_backward(x, k[:, :3 * units], rk[:, :3 * units], None, *gf, dh,
                                  mask=mask, use_bias=False)
            results.append(list(fwd) + list(bwd) + list(gf) + list(gb))
    finally:
        pycnn.set_num_threads(before)
    for a, c in zip(*results):
        if a is None:
            assert c is None
        else:
            np.testing.assert_array_equal(a, c)


# ----- a text model vs Keras 3 ------------------------------------------------
# Recorded with /opt/kerasenv (Keras 3, JAX): Input((5,), int64) ->
# Embedding(7, 4, mask_zero=True) -> LSTM(3) / GRU(3) -> Dense(2), these
# weights, on INDICES (leading, trailing and inner zeros).
INDICES = np.array([[3, 1, 4, 0, 0], [0, 0, 2, 5, 6], [0, 6, 0, 2, 0]], np.int64)
EMB = np.array([[ 0.15235855, -0.51999205,  0.3752256 ,  0.47028235],
                [-0.9755176 , -0.6510897 ,  0.0639202 , -0.1581213 ],
                [-0.00840058, -0.42652196,  0.439699  ,  0.38889596],
                [ 0.03301535,  0.5636206 ,  0.23375466, -0.42964622],
                [ 0.18437539, -0.47944131,  0.43922514, -0.02496296],
                [-0.09243118, -0.34046477,  0.61127067, -0.07726474],
                [-0.21416391, -0.17606677,  0.2661546 ,  0.18272203]], np.float32)
LK = np.array([[ 0.2063663 ,  0.2154105 ,  1.0708238 , -0.20320751, -0.25612137,
                -0.40688637,  0.30798972,  0.56448615, -0.05697373, -0.42007825,
                -0.4122406 ,  0.3252964 ],
               [ 0.3716271 ,  0.27157712, -0.33275485,  0.11608066,  0.0583429 ,
                 0.1093443 ,  0.4357144 ,  0.11179777,  0.33945677,  0.03378953,
                 0.1445597 ,  0.31564412],
               [-0.7285779 , -0.1598356 , -0.23518632, -0.31943893, -0.13757113,
                 0.7474707 , -0.43291557,  0.48413917, -0.8414349 , -0.16744252,
                 0.08137653,  0.29311118],
               [ 0.3556133 ,  0.39667362, -0.17436254, -0.2311759 ,  0.42898795,
                -0.09565216, -0.63784313, -0.5666436 , -0.45972615,  0.24858037,
                 0.07121287,  0.34524268]], np.float32)
LR = np.array([[-0.21362633,  0.07926985,  0.3127952 , -0.15467326,  0.22838762,
                -0.33096296, -0.18152693, -0.19086894, -0.5979198 ,  0.24348624,
                -0.23470117,  0.00624706],
               [ 0.24037333,  0.22326559,  0.33269256, -0.04924274, -0.21164915,
                -0.0398591 , -0.8436672 , -0.7235562 , -0.66134983, -0.4986234 ,
                 0.19988711, -0.45273954],
               [-0.18908128,  0.64961416, -0.17813198,  0.36875778, -0.46680883,
                -0.10271878, -0.47501102, -0.16951653,  0.42015406, -0.8636602 ,
                 0.21721183,  0.1188678 ]], np.float32)
LB = np.array([-0.05941499, -0.14460579, 0.00721295, -0.05294927, 0.02326762, 0.00218521,
               0.16017789, -0.02393556, -0.10234975, 0.01792756, 0.02199967, 0.13591875],
              np.float32)
GK = np.array([[ 0.41755563,  0.17843553,  0.7316514 , -0.5943815 , -0.31987578,
                -0.46328798, -0.19490491, -0.68834305,  0.31757548],
               [-0.11111135, -0.7354031 , -0.50778955,  0.15675692,  0.41906327,
                 0.99836546,  1.4569312 ,  0.20720471, -0.49476907],
               [-1.0660231 ,  0.13385573, -0.40647054, -0.20767863, -0.3060484 ,
                -0.07039544,  0.5329901 ,  0.07852428, -0.07931742],
               [-0.51782686, -0.8373415 , -0.24315396, -0.02689128,  0.88396496,
                 0.06513726,  0.49136975, -0.2496478 , -0.5924719 ]], np.float32)
GR = np.array([[-0.48255837, -0.36261302,  1.0642349 , -0.41069335,  0.4192446 ,
                -0.45146358,  0.46578652,  0.19247548, -0.07831895],
               [-0.02038126, -0.32739386,  0.2230361 , -0.22749174, -0.61280286,
                -0.63896877,  0.08629396,  0.78954566,  0.0799958 ],
               [-0.05931916,  0.14291307,  0.6530009 ,  0.10969125, -0.20546362,
                 0.55314434,  0.21437822,  0.767878  ,  0.09161722]], np.float32)
GB = np.array([[-0.1224469 , -0.13681592,  0.1650928 ,  0.17236657, -0.01795192,
                -0.03831873,  0.14614443, -0.11070457, -0.0894727 ],
               [ 0.06433268, -0.03946051, -0.00051219, -0.01634429,  0.03375746,
                 0.14074819,  0.00905849,  0.06439388, -0.20501721]], np.float32)
DK = np.array([[-0.0243592 , -0.42161512],
               [-0.60940653, -0.4390762 ],
               [-0.16706172,  0.45795128]], np.float32)
LSTM_LAST = np.array([[ 0.11033807, -0.2901356 ],
                      [ 0.14276323, -0.28667575],
                      [ 0.15530741, -0.25301814]], np.float32)
LSTM_SEQ = np.array([[[ 0.0378768 , -0.27655143],
                      [ 0.142797  , -0.18304366],
                      [ 0.11033808, -0.29013562],
                      [ 0.11033808, -0.29013562],
                      [ 0.11033808, -0.29013562]],

                     [[ 0.1       , -0.2       ],
                      [ 0.1       , -0.2       ],
                      [ 0.14359549, -0.23593718],
                      [ 0.11548625, -0.30540654],
                      [ 0.14276323, -0.28667575]],

                     [[ 0.1       , -0.2       ],
                      [ 0.13771428, -0.21118814],
                      [ 0.13771428, -0.21118814],
                      [ 0.15530741, -0.25301814],
                      [ 0.15530741, -0.25301814]]], np.float32)
LSTM_BACK_SEQ = np.array([[[ 0.1       , -0.2       ],
                           [ 0.1       , -0.2       ],
                           [ 0.09808869, -0.28608388],
                           [ 0.1562736 , -0.1884921 ],
                           [ 0.06157991, -0.30481   ]],

                          [[ 0.13771428, -0.21118814],
                           [ 0.11211499, -0.29027072],
                           [ 0.14744678, -0.2918449 ],
                           [ 0.14744678, -0.2918449 ],
                           [ 0.14744678, -0.2918449 ]],

                          [[ 0.1       , -0.2       ],
                           [ 0.14359549, -0.23593718],
                           [ 0.14359549, -0.23593718],
                           [ 0.15082103, -0.24742542],
                           [ 0.15082103, -0.24742542]]], np.float32)
GRU_LAST = np.array([[ 0.07908387, -0.09601873],
                     [ 0.18712828, -0.28009054],
                     [ 0.21801737, -0.22779691]], np.float32)
GRU_BACK_LAST = np.array([[ 0.05510547, -0.35666743],
                          [ 0.2220231 , -0.19454023],
                          [ 0.19554898, -0.28618324]], np.float32)
DENSE_BIAS = np.array([0.1, -0.2], np.float32)
LSTM_SEQ_POOL = np.array([[ 0.09700396, -0.24991024],
                          [ 0.13394833, -0.2760065 ],
                          [ 0.14651084, -0.23210314]], np.float32)


def _text_layers(rnn):
    emb = Embedding(7, 4, mask_zero=True)
    emb.build()
    emb.set_weights([EMB])
    rnn.build((None, 5, 4))
    if isinstance(rnn, LSTM):
        rnn.set_weights([LK, LR, LB])
    else:
        rnn.set_weights([GK, GR, GB])
    dense = Dense(2)
    dense.build((None, 3))
    dense.set_weights([DK, DENSE_BIAS])
    return emb, rnn, dense


@pytest.mark.parametrize("case, make, want", [
    ("lstm_last", lambda: LSTM(3), LSTM_LAST),
    ("lstm_seq", lambda: LSTM(3, return_sequences=True), LSTM_SEQ),
    ("lstm_backwards_seq", lambda: LSTM(3, return_sequences=True, go_backwards=True),
     LSTM_BACK_SEQ),
    ("gru_last", lambda: GRU(3), GRU_LAST),
    ("gru_backwards_last", lambda: GRU(3, go_backwards=True), GRU_BACK_LAST),
])
def test_text_model_matches_keras(isa, case, make, want):
    """The layers chained as a model passes masks: Embedding's mask goes to
    the recurrent layer's forward."""
    emb, rnn, dense = _text_layers(make())
    x, _ = emb.forward(INDICES)
    mask = emb.compute_mask(INDICES)
    h, cache = rnn.forward(x, mask=mask)
    y, _ = dense.forward(h)
    assert_close(y, want, rtol=1e-5, atol=1e-6, what=case)
    # The mask travels on with the sequence (unreversed, as Keras).
    out_mask = rnn.compute_mask(x, mask)
    if rnn.return_sequences:
        np.testing.assert_array_equal(out_mask, INDICES != 0)
    else:
        assert out_mask is None
    # Backward through the masked layer: no gradient reaches masked steps.
    dx, grads = rnn.backward(cache, np.ones_like(h))
    assert not dx[INDICES == 0].any()
    assert len(grads) == 3


def test_layer_mask_api():
    assert LSTM.supports_masking and GRU.supports_masking and SpatialDropout1D.supports_masking
    lstm = LSTM(2, return_sequences=True, return_state=True)
    mask = np.array([[1, 0, 1]], bool)
    out_mask = lstm.compute_mask(np.zeros((1, 3, 2), np.float32), mask)
    assert out_mask[0] is mask and out_mask[1:] == [None, None]
    assert Embedding(5, 2).compute_mask(np.array([[0, 1]])) is None
    np.testing.assert_array_equal(Embedding(5, 2, mask_zero=True).compute_mask(
        np.array([[0, 1, 2, 0]])), [[False, True, True, False]])


def test_layer_mask_shape_error():
    lstm = LSTM(2)
    lstm.build((None, 3, 4))
    with pytest.raises(ValueError, match="mask"):
        lstm.forward(np.zeros((2, 3, 4), np.float32), mask=np.ones((2, 4), bool))


# ----- masks through models (Sequential and functional) ---------------------
def _text_model(kind, rnn, pool=False):
    from pycnn import Input, Model, Sequential
    from pycnn.layers import GlobalAveragePooling1D
    emb, rnn, dense = _text_layers(rnn)
    if kind == "sequential":
        layers = [Input((5,), dtype="int64"), emb, rnn]
        layers += [GlobalAveragePooling1D()] if pool else []
        return Sequential(layers + [dense])
    inp = Input((5,), dtype="int64")
    x = rnn(emb(inp))
    if pool:
        x = GlobalAveragePooling1D()(x)
    return Model(inp, dense(x))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("make, pool, want", [
    (lambda: LSTM(3), False, LSTM_LAST),
    (lambda: LSTM(3, return_sequences=True, go_backwards=True), False, LSTM_BACK_SEQ),
    (lambda: GRU(3, go_backwards=True), False, GRU_BACK_LAST),
    (lambda: LSTM(3, return_sequences=True), True, LSTM_SEQ_POOL),
])
def test_models_pass_masks_as_keras(kind, make, pool, want):
    model = _text_model(kind, make(), pool)
    assert_close(model.predict(INDICES, verbose=0), want, rtol=1e-5, atol=1e-6)
    # Backward: index 0 only ever sits at masked steps, so its row gets nothing.
    y, cache = model.forward(INDICES, training=True)
    _, grads = model.backward(cache, np.ones_like(y))
    assert not grads[0][0].any() and grads[0][1:].any()


def test_merge_layers_combine_masks_as_keras():
    """Keras 3: Add & co. AND the masks; Concatenate concatenates them (all-true
    for unmasked inputs) and takes any over the last axis."""
    import pycnn
    from pycnn import layers as L
    a = L.Input((4,))
    b = L.Input((4,))
    ea = L.Embedding(10, 3, mask_zero=True)(a)
    eb = L.Embedding(10, 3, mask_zero=True)(b)
    added = L.Add()([ea, eb])
    cat = L.Concatenate(axis=1)([ea, eb])
    xa = np.array([[1, 2, 0, 0], [3, 0, 0, 0]], np.float32)
    xb = np.array([[1, 0, 5, 0], [3, 4, 0, 6]], np.float32)
    add_layer = added._keras_history[0]
    cat_layer = cat._keras_history[0]
    ma, mb = xa != 0, xb != 0
    np.testing.assert_array_equal(add_layer.compute_mask([None, None], [ma, mb]), ma & mb)
    assert add_layer.compute_mask([None, None], [None, None]) is None
    np.testing.assert_array_equal(add_layer.compute_mask([None, None], [ma, None]), ma)
    xs = [np.zeros((2, 4, 3)), np.zeros((2, 4, 3))]
    np.testing.assert_array_equal(cat_layer.compute_mask(xs, [ma, mb]),
                                  np.concatenate([ma, mb], axis=1))
    np.testing.assert_array_equal(cat_layer.compute_mask(xs, [ma, None]),
                                  np.concatenate([ma, np.ones_like(mb)], axis=1))
    # The combined mask reaches the LSTM: masked steps carry the state over.
    out = L.LSTM(2)(added)
    model = pycnn.Model([a, b], out)
    y = model.predict_on_batch([xa, xb])
    y_ref, _ = model.forward([xa, xb], training=False)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    # Sample 0 keeps step 0 only: same as feeding that step alone.
    lstm = model.layers[-1]
    emb_sum = model.layers[2].forward(xa[:1, :1])[0] + model.layers[3].forward(xb[:1, :1])[0]
    np.testing.assert_allclose(y[0], lstm.forward(emb_sum)[0][0], rtol=1e-5, atol=1e-6)
