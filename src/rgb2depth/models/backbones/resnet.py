"""ResNet-18 and ResNet-50 (He et al., CVPR 2016), parameter names identical to torchvision.

Used by paper 001 (``resnet18_depth``, its Figs. 3-4), paper 003 (FCRN, Sec. 3 and Fig. 1:
ResNet-50 without its last pooling and fully-connected layers) and paper 004 (Sec. 5.4,
ResNet-50 + up-projection). The bottleneck puts the stride on its 3x3 convolution, as
torchvision's ImageNet weights do ("ResNet v1.5"); parameter counts are the same as the
original (stride on the first 1x1), so paper tables are unaffected.

State_dict layout (torchvision's): ``conv1``, ``bn1``, ``layer{1..4}.{i}.conv{1,2[,3]}``,
``layer{1..4}.{i}.bn{1,2[,3]}``, ``layer{1..4}.0.downsample.{0,1}``, ``fc``.
ResNet-18: 11,689,512 parameters, 122 state_dict entries; ResNet-50: 25,557,032, 320 entries.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from rgb2depth.models.backbones import PretrainedArg, load_pretrained

# torchvision's published ImageNet weights (IMAGENET1K_V1).
URLS = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "resnet50": "https://download.pytorch.org/models/resnet50-0676ba61.pth",
}


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN with an identity (or 1x1 projection) shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), each with BN, plus shortcut (ResNet-50)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet trunk (stem, four stages) with an optional ImageNet classifier head (``fc``).

    ``forward`` classifies (needs ``include_top=True``); depth networks call
    :meth:`forward_features`.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        include_top: bool = True,
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.include_top = include_top
        self.num_features = 512 * block.expansion
        # Outputs of forward_features(return_stages=True): stem (after ReLU), layer1..layer4.
        self.stage_channels = (64,) + tuple(c * block.expansion for c in (64, 128, 256, 512))
        self.stage_strides = (2, 4, 8, 16, 32)
        if include_top:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        mods = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        mods += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward_features(
        self, x: torch.Tensor, return_stages: bool = False
    ) -> torch.Tensor | list[torch.Tensor]:
        """Layer-4 map (stride 32), or the list [stem, layer1, ..., layer4] (strides 2..32)."""
        x0 = self.relu(self.bn1(self.conv1(x)))
        x1 = self.layer1(self.maxpool(x0))
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return [x0, x1, x2, x3, x4] if return_stages else x4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.include_top:
            raise RuntimeError("this ResNet was built with include_top=False; use forward_features")
        x = self.avgpool(self.forward_features(x))
        return self.fc(torch.flatten(x, 1))


def resnet18(pretrained: PretrainedArg = None, include_top: bool = True, num_classes: int = 1000) -> ResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]), torchvision-compatible; ``pretrained``: path or True."""
    model = ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes, include_top=include_top)
    return load_pretrained(model, pretrained, URLS["resnet18"], head_prefixes=("fc.",))


def resnet50(pretrained: PretrainedArg = None, include_top: bool = True, num_classes: int = 1000) -> ResNet:
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]), torchvision-compatible; ``pretrained``: path or True."""
    model = ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes, include_top=include_top)
    return load_pretrained(model, pretrained, URLS["resnet50"], head_prefixes=("fc.",))
