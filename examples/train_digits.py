"""The main job: train the users' MNIST network (seed note 001) on the
handwritten digits that ship inside pycnn, then report held-out accuracy.

    python examples/train_digits.py [--epochs 30] [--threads N]
"""
import argparse
import time

import numpy as np

import pycnn
from pycnn.datasets import digits
from pycnn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
from pycnn.models import Sequential


def build_model():
    # Seed note 001, the first network, exactly as the users write it.
    model = Sequential()
    model.add(Conv2D(filters=8, kernel_size=(5, 5), padding='same', activation='relu',
                     input_shape=(28, 28, 1)))
    model.add(MaxPool2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        pycnn.set_num_threads(args.threads)
    pycnn.utils.set_random_seed(42)

    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train[..., None].astype("float32") / 255.0
    x_test = x_test[..., None].astype("float32") / 255.0
    print(f"pycnn {pycnn.__version__} on {pycnn.get_isa()} with {pycnn.get_num_threads()} "
          f"thread(s); {len(x_train)} training and {len(x_test)} held-out digits")

    model = build_model()
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_split=0.1)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predicted = np.argmax(model.predict(x_test[:10], verbose=0), axis=1)
    print(f"held-out accuracy {accuracy:.4f} (loss {loss:.4f}); training took {seconds:.1f}s")
    print(f"first ten held-out digits: predicted {predicted.tolist()}, "
          f"true {y_test[:10].tolist()}")


if __name__ == "__main__":
    main()
