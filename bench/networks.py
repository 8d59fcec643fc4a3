"""The users' seed networks (000 and 001) and ResNet50 in Keras form (run by pycnn
and by TensorFlow-Keras) and in PyTorch.

Each builder returns an object with ``train_step(x, y)`` and ``predict(x)`` so
the timing loop treats every engine alike.
"""
import numpy as np


def seed_000_keras(keras):
    """Seed note 000's classifier; ``keras`` is pycnn or TensorFlow's keras."""
    layers = keras.layers
    mdl = keras.Sequential()
    mdl.add(layers.InputLayer(shape=(150, 150, 3)))
    mdl.add(layers.Conv2D(filters=32, kernel_size=3, activation='relu', padding='same'))
    mdl.add(layers.MaxPool2D())
    mdl.add(layers.Conv2D(filters=64, kernel_size=3, activation='relu', padding='same'))
    mdl.add(layers.MaxPool2D())
    mdl.add(layers.Flatten())
    mdl.add(layers.Dense(128, activation='relu'))
    mdl.add(layers.BatchNormalization())
    mdl.add(layers.Dropout(rate=0.3))
    mdl.add(layers.Dense(64, activation='relu'))
    mdl.add(layers.BatchNormalization())
    mdl.add(layers.Dropout(rate=0.3))
    mdl.add(layers.Dense(1, activation='sigmoid'))
    mdl.compile(optimizer=keras.optimizers.Adam(0.001),
                loss=keras.losses.BinaryCrossentropy(), metrics=['accuracy'])
    return KerasRunner(mdl)


def seed_001_keras(keras):
    """Seed note 001's MNIST network; ``keras`` is pycnn or TensorFlow's keras."""
    layers = keras.layers
    model = keras.Sequential()
    model.add(layers.InputLayer(shape=(28, 28, 1)))
    model.add(layers.Conv2D(filters=8, kernel_size=(5, 5), padding='same', activation='relu'))
    model.add(layers.MaxPool2D(pool_size=(2, 2)))
    model.add(layers.Dropout(0.25))
    model.add(layers.Flatten())
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    return KerasRunner(model)


def resnet50_keras(keras):
    return KerasRunner(keras.applications.ResNet50(weights=None))


class KerasRunner:
    """train_on_batch / predict_on_batch: what a Keras user calls per batch."""
    layout = "nhwc"

    def __init__(self, model):
        self.model = model

    def prepare(self, x, y=None):
        return x, y

    def train_step(self, x, y):
        self.model.train_on_batch(x, y)

    def predict(self, x):
        return self.model.predict_on_batch(x)


def seed_000_torch():
    import torch
    from torch import nn
    net = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 37 * 37, 128), nn.ReLU(), nn.BatchNorm1d(128, eps=1e-3, momentum=0.01),
        nn.Dropout(0.3),
        nn.Linear(128, 64), nn.ReLU(), nn.BatchNorm1d(64, eps=1e-3, momentum=0.01),
        nn.Dropout(0.3),
        nn.Linear(64, 1), nn.Sigmoid())
    return TorchRunner(net, torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7),
                       nn.BCELoss(), float_targets=True)


def resnet50_torch():
    import torch
    from bench.resnet_torch import resnet50
    net = resnet50()
    return TorchRunner(net, torch.optim.SGD(net.parameters(), lr=0.01), torch.nn.CrossEntropyLoss(),
                       float_targets=False)


def seed_001_torch():
    import torch
    from torch import nn
    net = nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
    # Softmax + cross-entropy fused on logits, as PyTorch users write it.
    return TorchRunner(net, torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7),
                       nn.CrossEntropyLoss(), float_targets=False)


def nchw(x):
    """NHWC numpy batch -> contiguous NCHW torch tensor."""
    import torch
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class TorchRunner:
    layout = "nchw"

    def __init__(self, net, optimizer, loss, float_targets):
        self.net, self.optimizer, self.loss = net, optimizer, loss
        self.float_targets = float_targets

    def _tensors(self, x, y=None):
        import torch
        xt = nchw(x)
        if y is None:
            return xt, None
        yt = torch.from_numpy(y.astype(np.float32).reshape(-1, 1) if self.float_targets
                              else y.astype(np.int64))
        return xt, yt

    def prepare(self, x, y=None):
        return self._tensors(x, y)

    def train_step(self, xt, yt):
        self.net.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.net(xt), yt)
        loss.backward()
        self.optimizer.step()

    def predict(self, xt):
        import torch
        self.net.eval()
        with torch.inference_mode():
            return self.net(xt)
