"""Layers with Keras 3 names, arguments, defaults and weight layouts."""
from pycnn.layers.activation import ELU, Activation, LeakyReLU, ReLU, Softmax
from pycnn.layers.base import Input, InputLayer, Layer
from pycnn.layers.convolutional import Conv1D, Conv2D, Conv2DTranspose
from pycnn.layers.core import Dense, Dropout, Flatten, Reshape
from pycnn.layers.embedding import Embedding, SpatialDropout1D
from pycnn.layers.merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply,
                                  Subtract, add, average, concatenate, maximum, minimum,
                                  multiply, subtract)
from pycnn.layers.normalization import BatchNormalization
from pycnn.layers.pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D,
                                  GlobalAveragePooling1D, GlobalAveragePooling2D,
                                  GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D,
                                  GlobalMaxPool2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                                  MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
from pycnn.layers.recurrent import GRU, LSTM
from pycnn.layers.resizing import Resizing, UpSampling1D, UpSampling2D
from pycnn.layers.reshaping import ZeroPadding1D, ZeroPadding2D

Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
