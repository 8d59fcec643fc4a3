"""Ready-made architectures (``keras.applications`` names)."""
from pycnn.applications import resnet50
from pycnn.applications.resnet import ResNet50

__all__ = ["ResNet50", "resnet50"]
