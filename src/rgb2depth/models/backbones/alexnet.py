"""AlexNet (Krizhevsky et al., NIPS 2012), torchvision's single-tower variant and key names.

Used by paper 001 (``alexnet_depth``, its Fig. 3) and paper 003 (FCRN Table 1, AlexNet rows).
Layout (torchvision): ``features`` = conv 11x11/4 (64) - ReLU - maxpool 3/2 - conv 5x5 (192) -
ReLU - maxpool - conv 3x3 (384) - ReLU - conv 3x3 (256) - ReLU - conv 3x3 (256) - ReLU -
maxpool; ``avgpool`` adaptive 6x6; ``classifier`` = Dropout - FC 9216->4096 - ReLU - Dropout -
FC 4096->4096 - ReLU - FC 4096->1000. Convolution indices in ``features``: 0, 3, 6, 8, 10.
61,100,840 parameters (2,469,696 in ``features``), 16 state_dict entries.
"""

from __future__ import annotations

import torch.nn as nn

from rgb2depth.models.backbones import (
    AdaptiveAvgPool2d,
    PretrainedArg,
    SequentialBackbone,
    load_pretrained,
)

URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"


class AlexNet(SequentialBackbone):
    """AlexNet trunk (``features``) with an optional ImageNet head (``avgpool``, ``classifier``)."""

    def __init__(self, num_classes: int = 1000, include_top: bool = True, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2),
        )
        self.include_top = include_top
        self.num_features = 256
        # forward_features(return_stages=True): conv1 (after ReLU, /4), conv2 (/8), conv5 (/16),
        # pool5 (/32).
        self.stage_indices = (1, 4, 11, 12)
        self.stage_channels = (64, 192, 256, 256)
        self.stage_strides = (4, 8, 16, 32)
        if include_top:
            self.avgpool = AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(256 * 6 * 6, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Linear(4096, num_classes),
            )


def alexnet(pretrained: PretrainedArg = None, include_top: bool = True, num_classes: int = 1000) -> AlexNet:
    """AlexNet, torchvision-compatible; ``pretrained``: path to a state_dict, or True (download)."""
    model = AlexNet(num_classes=num_classes, include_top=include_top)
    return load_pretrained(model, pretrained, URL, head_prefixes=("classifier.",))
