"""Dataset loaders for skood's examples, tests and benchmarks.

Every loader returns plain NumPy arrays. Images are returned **flattened**:
an image set of shape ``(n, C, H, W)`` (channels first) is returned as a
``uint8`` array of shape ``(n, C * H * W)`` in C order, because skood's
estimators take a 2-D ``X`` together with an ``input_shape=(C, H, W)``
parameter. ``X.reshape(-1, *input_shape)`` recovers the images.

Nothing is downloaded: the real data sets are read from a local folder, the
*data home*: the ``data_home`` argument of a loader, else the ``SKOOD_DATA``
environment variable, else ``~/skood_data`` (see :func:`get_data_home`). It
is laid out as::

    <data_home>/
        mnist/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
              t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
        fashion_mnist/  (same four file names as mnist/)
        cifar10/CIFAR-10-images_jpeg_q75.tar.gz
        tiny_imagenet_val/tiny-imagenet-200_val.tar.gz
        adbench/<k>_<name>.npz   (arrays ``X`` and ``y``, 1 = anomaly)

The small scikit-learn digits set (:func:`load_digits_images`,
:func:`load_digits_ood`) ships with scikit-learn and needs no data home.
"""

from ._adbench import ADBENCH_DIR, list_adbench, load_adbench
from ._digits import DIGITS_SHAPE, load_digits_images, load_digits_ood
from ._home import get_data_home
from ._idx import MNIST_SHAPE, load_fashion_mnist, load_mnist
from ._images import (
    CIFAR10_CLASSES,
    CIFAR10_SHAPE,
    load_cifar10,
    load_tiny_imagenet_val,
    resize_images,
    to_grey,
)

__all__ = [
    "ADBENCH_DIR",
    "CIFAR10_CLASSES",
    "CIFAR10_SHAPE",
    "DIGITS_SHAPE",
    "MNIST_SHAPE",
    "get_data_home",
    "list_adbench",
    "load_adbench",
    "load_cifar10",
    "load_digits_images",
    "load_digits_ood",
    "load_fashion_mnist",
    "load_mnist",
    "load_tiny_imagenet_val",
    "resize_images",
    "to_grey",
]
