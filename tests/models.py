"""Small real models and registry entries for them, shared by the feature and export tests."""

from __future__ import annotations

from typing import Any

import torch

from conftest import file_entry

# The stages of timm resnet18, as its feature_info names them (one alias to test aliases).
TIMM_STAGES = [
    {"name": "act1", "channels": 64, "stride": 2},
    {"name": "layer1", "channels": 64, "stride": 4},
    {"name": "layer2", "channels": 128, "stride": 8, "aliases": ["c3"]},
    {"name": "layer3", "channels": 256, "stride": 16},
    {"name": "layer4", "channels": 512, "stride": 32},
]


IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def vision_entry(adapter: str, arch: str, files: list[dict], stages: list[dict], size: int = 224, **version: Any) -> dict:
    return {
        "task": "image-classification",
        "modality": "vision",
        "architecture": f"test {arch}",
        "paper": {"title": "Test model", "url": "https://example.org/paper"},
        "default": "v1",
        "versions": {
            "v1": {
                "adapter": adapter,
                "arch": arch,
                "license": "apache-2.0",
                "input": {"shape": [3, size, size], **IMAGENET, "interpolation": "bilinear", "crop_pct": 0.875},
                "stages": stages,
                "files": files,
                **version,
            }
        },
    }


def serve(server: Any, name: str, data: bytes) -> dict:
    server.add(f"/w/{name}", data)
    return file_entry(name, data, {"url": server.url(f"/w/{name}")})


def hooked(model: torch.nn.Module, module_name: str, *inputs: Any) -> torch.Tensor:
    """Runs the full model and returns what submodule ``module_name`` output (independent reference)."""
    seen: list[torch.Tensor] = []
    handle = model.get_submodule(module_name).register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        model(*inputs)
    handle.remove()
    return seen[0]


def tiny_bert(seed: int = 3) -> Any:
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
    return BertModel(config).eval()


def text_entry(files: list[dict], stages_prefix: str = "encoder.layer", layers: int = 4, hidden: int = 32, **version: Any) -> dict:
    stages = [{"name": "embeddings", "channels": hidden, "stride": 1}] + [
        {"name": f"{stages_prefix}.{i}", "channels": hidden, "stride": 1} for i in range(layers)
    ]
    return {
        "task": "feature-extraction",
        "modality": "text",
        "architecture": "tiny BERT",
        "paper": {"title": "Test model", "url": "https://example.org/paper"},
        "default": "v1",
        "versions": {"v1": {"adapter": "transformers", "arch": "bert", "license": "apache-2.0", "stages": stages, "files": files, **version}},
    }


class SmallNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.relu2 = torch.nn.ReLU()
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.pool(x).flatten(1))


def timm_resnet18(folder: Any, seed: int) -> tuple[torch.nn.Module, bytes]:
    """A random-init timm resnet18 (eval mode) and its weights as real safetensors bytes."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = timm.create_model("resnet18", pretrained=False).eval()
    path = folder / "model.safetensors"
    save_file(model.state_dict(), str(path))
    return model, path.read_bytes()
