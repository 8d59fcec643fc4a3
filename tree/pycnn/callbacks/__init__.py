"""Training callbacks with the Keras 3 API (``pycnn.callbacks``)."""
from pycnn.callbacks.callback import Callback, CallbackList
from pycnn.callbacks.history import History, ProgbarLogger
from pycnn.callbacks.misc import (CSVLogger, LambdaCallback, LearningRateScheduler,
                                  TerminateOnNaN)
from pycnn.callbacks.monitor import (EarlyStopping, ModelCheckpoint, MonitorCallback,
                                     ReduceLROnPlateau)

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "CSVLogger",
           "LambdaCallback", "LearningRateScheduler", "TerminateOnNaN",
           "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau"]
