"""Full-size builders: parameter counts against keras.applications and the papers, shapes by rule.

Models are built with ``build_without_weights`` (shapes, no values), so that a 138-million-
parameter VGG costs a fraction of a second; ``clear_session`` after each keeps memory flat.
"""

import math

import keras
import numpy as np
import pytest

from tfcourse import architectures
from tfcourse.summary import build_without_weights, layer_table


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


def _trainable(model) -> int:
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def _spatial(rows, kinds):
    return [r.output_shape for r in rows if r.kind in kinds]


@pytest.mark.parametrize(
    "build,application,expected",
    [
        (lambda: architectures.vgg(16), keras.applications.VGG16, 138_357_544),
        (lambda: architectures.vgg(19), keras.applications.VGG19, 143_667_240),
        (
            lambda: architectures.resnet(50, use_bias=True, stride_on="1x1", batch_norm_epsilon=1.001e-5),
            keras.applications.ResNet50,
            25_636_712,
        ),
        (lambda: architectures.densenet(121), keras.applications.DenseNet121, 8_062_504),
    ],
    ids=["vgg16", "vgg19", "resnet50", "densenet121"],
)
def test_counts_equal_keras_applications(build, application, expected):
    ours = build_without_weights(build)
    theirs = build_without_weights(application, weights=None)
    assert ours.count_params() == theirs.count_params() == expected
    assert _trainable(ours) == _trainable(theirs)
    assert ours.output_shape == theirs.output_shape == (None, 1000)
    # every convolution, pooling and dense layer gives the same output shape, in the same order
    kinds = {"Conv2D", "MaxPooling2D", "AveragePooling2D", "Dense"}
    assert _spatial(layer_table(ours), kinds) == _spatial(layer_table(theirs), kinds)


@pytest.mark.parametrize(
    "build,expected,published,tolerance",
    [
        # LeNet-5: 156 + 2,416 + 48,120 + 10,164 + 850; LeCun et al. 1998: "about 60,000"
        (architectures.lenet5, 61_706, 60_000, 0.05),
        # AlexNet in one tower; Krizhevsky et al. 2012: "60 million parameters"
        (architectures.alexnet, 62_378_344, 60_000_000, 0.05),
        # GoogLeNet without auxiliary classifiers; Szegedy et al. 2014, table 1: about 6.8 million
        (architectures.googlenet, 6_998_552, 6_800_000, 0.05),
    ],
    ids=["lenet5", "alexnet", "googlenet"],
)
def test_counts_match_the_papers(build, expected, published, tolerance):
    count = build_without_weights(build).count_params()
    assert count == expected
    assert abs(count - published) / published < tolerance


def test_alexnet_on_two_gpus_has_the_papers_60_million():
    # conv2, conv4 and conv5 were split in two groups, each seeing half the input channels
    rows = {r.name: r for r in layer_table(build_without_weights(architectures.alexnet))}
    saved = sum(
        (rows[f"{name}/conv1"].params - out) // 2
        for name, out in (("conv2", 256), ("conv4", 384), ("conv5", 256))  # weights only, biases stay
    )
    assert rows["input"].output_shape == (227, 227, 3)
    assert 62_378_344 - saved == 60_965_224


@pytest.mark.parametrize(
    "depth,trainable",
    [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032)],  # torchvision's resnet18/34/50 (no conv biases)
)
def test_resnet_counts_equal_torchvision(depth, trainable):
    model = build_without_weights(architectures.resnet, depth)
    assert _trainable(model) == trainable
    blocks = [layer for layer in model.layers if "block" in layer.name]
    assert len(blocks) == sum(architectures.RESNET_BLOCKS[depth])


def test_alexnet_shape_walk():
    rows = layer_table(build_without_weights(architectures.alexnet), max_depth=0)
    sides = [r.output_shape[0] for r in rows if r.kind in {"InputLayer", "ConvBlock", "MaxPooling2D"}]
    assert sides == [227, 55, 27, 27, 13, 13, 13, 13, 6]
    assert rows[-1].output_shape == (1000,)


def test_googlenet_module_outputs_follow_table_1():
    rows = layer_table(build_without_weights(architectures.googlenet), max_depth=0)
    inception = [(r.name, r.output_shape) for r in rows if r.kind == "InceptionModule"]
    assert inception == [
        ("inception3a", (28, 28, 256)),
        ("inception3b", (28, 28, 480)),
        ("inception4a", (14, 14, 512)),
        ("inception4b", (14, 14, 512)),
        ("inception4c", (14, 14, 512)),
        ("inception4d", (14, 14, 528)),
        ("inception4e", (14, 14, 832)),
        ("inception5a", (7, 7, 832)),
        ("inception5b", (7, 7, 1024)),
    ]


def test_lenet5_runs():
    model = architectures.lenet5()
    assert tuple(model(np.zeros((2, 32, 32, 1), np.float32)).shape) == (2, 10)
    assert [r.output_shape for r in layer_table(model, max_depth=0)][:4] == [
        (32, 32, 1),
        (14, 14, 6),
        (5, 5, 16),
        (1, 1, 120),
    ]


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: architectures.vgg(17), "Received: depth=17"),
        (lambda: architectures.resnet(20), "Received: depth=20"),
        (lambda: architectures.densenet(100), "Received: depth=100"),
    ],
)
def test_unknown_depth(build, match):
    with pytest.raises(ValueError, match=match):
        build()
