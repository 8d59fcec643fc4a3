"""Data preprocessing (``keras.preprocessing`` names): ``image``."""
from pycnn.preprocessing import image  # noqa: F401
from pycnn.preprocessing.image import ImageDataGenerator  # noqa: F401
