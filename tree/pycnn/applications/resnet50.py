"""``keras.applications.resnet50`` names: ResNet50 and its preprocess_input."""
import numpy as np

from pycnn.applications.resnet import ResNet50

# ImageNet channel means in BGR order ("caffe" mode).
_BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)


def preprocess_input(x, data_format=None):
    """RGB -> BGR and subtract the ImageNet mean per channel, as Keras's "caffe"
    mode. Like Keras, a float array is processed in place and returned."""
    if data_format not in (None, "channels_last"):
        raise ValueError("preprocess_input: only channels_last is supported")
    x = np.asarray(x)
    if x.shape[-1:] != (3,):
        raise ValueError(f"preprocess_input expects a last axis of 3 channels (RGB), got "
                         f"shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    x[...] = x[..., ::-1] - _BGR_MEAN
    return x


def decode_predictions(preds, top=5):
    raise NotImplementedError(
        "decode_predictions needs ImageNet's class index file, which pycnn does not "
        "download")


__all__ = ["ResNet50", "preprocess_input", "decode_predictions"]
