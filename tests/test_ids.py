import pytest

from zoo import ModelId, parse_model_id
from zoo.errors import InvalidModelIdError, ZooError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("resnet50", ModelId("resnet50")),
        ("resnet50@tv_in1k", ModelId("resnet50", "tv_in1k")),
        ("resnet/resnet50@a1_in1k", ModelId("resnet50", "a1_in1k", "resnet")),
        ("ResNet50", ModelId("resnet50")),
        ("  all-minilm-l6-v2  ", ModelId("all-minilm-l6-v2")),
        ("vit_base_patch16_224@augreg2_in21k_ft_in1k", ModelId("vit_base_patch16_224", "augreg2_in21k_ft_in1k")),
    ],
)
def test_parse_valid(text: str, expected: ModelId) -> None:
    assert parse_model_id(text) == expected


@pytest.mark.parametrize("text", ["", "@v1", "resnet50@", "a/b/c", "res net", "-resnet", "resnet50@v1@v2", "../etc"])
def test_parse_invalid(text: str) -> None:
    with pytest.raises(InvalidModelIdError) as info:
        parse_model_id(text)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ZooError)
    assert "not a valid model id" in str(info.value)


def test_str_roundtrip() -> None:
    for text in ["resnet50", "resnet50@tv_in1k", "resnet/resnet50@tv_in1k"]:
        assert str(parse_model_id(text)) == text
