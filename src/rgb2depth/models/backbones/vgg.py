"""VGG-16 (Simonyan and Zisserman, ICLR 2015, configuration D, no BN), torchvision key names.

Used by paper 003 (FCRN Table 1, VGG rows). ``features`` holds 13 3x3 convolutions (indices
0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), each followed by ReLU, and five 2x2 max-pools
(indices 4, 9, 16, 23, 30); ``avgpool`` is adaptive 7x7; ``classifier`` = FC 25088->4096 -
ReLU - Dropout - FC 4096->4096 - ReLU - Dropout - FC 4096->1000 (indices 0, 3, 6).
138,357,544 parameters (14,714,688 in ``features``), 32 state_dict entries.
"""

from __future__ import annotations

import torch.nn as nn

from rgb2depth.models.backbones import (
    AdaptiveAvgPool2d,
    PretrainedArg,
    SequentialBackbone,
    load_pretrained,
)

URL = "https://download.pytorch.org/models/vgg16-397923af.pth"

# Configuration D: channel counts, "M" = 2x2 max-pool.
CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(SequentialBackbone):
    """VGG trunk (``features``) with an optional ImageNet head (``avgpool``, ``classifier``)."""

    def __init__(self, cfg=CFG_D, num_classes: int = 1000, include_top: bool = True, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        self.stage_indices: tuple[int, ...] = ()
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                self.stage_indices += (len(layers) - 1,)
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.include_top = include_top
        self.num_features = cin
        # forward_features(return_stages=True): output of each max-pool (strides 2..32).
        self.stage_channels = (64, 128, 256, 512, 512)
        self.stage_strides = (2, 4, 8, 16, 32)
        if include_top:
            self.avgpool = AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(4096, num_classes),
            )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)


def vgg16(pretrained: PretrainedArg = None, include_top: bool = True, num_classes: int = 1000) -> VGG:
    """VGG-16 (configuration D), torchvision-compatible; ``pretrained``: path or True (download)."""
    model = VGG(CFG_D, num_classes=num_classes, include_top=include_top)
    return load_pretrained(model, pretrained, URL, head_prefixes=("classifier.",))
