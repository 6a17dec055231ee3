#!/usr/bin/python3
"""Freezes torchvision's ResNet-18/34/50 state_dict (key, shape, in order; 3 channels, 1000 classes)
into fixtures/torchvision_resnet_keys.json, the independent reference for trainer/resnet.cpp's names.
Run from this folder:
    /usr/bin/python3 make_resnet_keys_fixture.py > fixtures/torchvision_resnet_keys.json
"""
import json

import torch
import torchvision
from torchvision.models import resnet18, resnet34, resnet50

models = {}
for name, build in [("resnet18", resnet18), ("resnet34", resnet34), ("resnet50", resnet50)]:
    model = build(num_classes=1000)
    models[name] = {
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()],
    }
print(json.dumps({"torch_version": torch.__version__, "torchvision_version": torchvision.__version__,
                  "models": models}, separators=(",", ":")))
