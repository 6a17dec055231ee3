#!/usr/bin/python3
"""Python torchvision, with no cxrtrain code, must take cxrtrain's exported ResNet-50 weights:
torch.load gives a plain dict, torchvision.models.resnet50(num_classes=14) with a 1-channel conv1
loads it with strict=True, and its eval-mode logits on the same input match cxrtrain's (< 1e-4).
Then writes the reverse case (torchvision's own state_dict via torch.save) for `torchvision_case check`.
Usage: check_torchvision.py DIR   (DIR from `torchvision_case write DIR`)
"""
import sys

try:
    import torch
    import torchvision
except ImportError as e:  # ctest SKIP_RETURN_CODE
    print(f"SKIP: {e} (install python3-torchvision)")
    sys.exit(77)

TOLERANCE = 1e-4


def torchvision_resnet50_grey():
    model = torchvision.models.resnet50(num_classes=14)
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


def check_export(d):
    # weights_only=True: no arbitrary unpickling needed (the default from PyTorch 2.6 on).
    state = torch.load(f"{d}/weights.pt", map_location="cpu", weights_only=True)
    assert type(state) is dict, f"torch.load gave {type(state)}, expected dict"
    assert all(type(v) is torch.Tensor and not v.requires_grad for v in state.values())
    plain = torch.load(f"{d}/weights.pt", map_location="cpu")
    assert all(torch.equal(plain[k], v) for k, v in state.items())

    model = torchvision_resnet50_grey()
    model.load_state_dict(state, strict=True)
    assert list(state) == list(model.state_dict()), "key order differs from torchvision's"
    model.eval()
    io = torch.load(f"{d}/io.pt", weights_only=True)
    x, expected = io["input"], io["logits"]
    with torch.no_grad():
        logits = model(x)
    diff = (logits - expected).abs().max().item()
    scale = expected.abs().max().item()
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}: {len(state)} tensors, "
          f"logits {tuple(logits.shape)}, max |logit| {scale:.4f}, max |diff| {diff:.3g}")
    assert logits.shape == expected.shape == (2, 14)
    assert scale > 0.1, "logits too small for the comparison to mean anything"
    assert diff < TOLERANCE, f"max |logit difference| {diff} >= {TOLERANCE}"

    # The comparison must be able to fail: dropping one layer's running variance shows up.
    model.bn1.running_var.fill_(1.0)
    with torch.no_grad():
        control = (model(x) - expected).abs().max().item()
    print(f"control (bn1.running_var reset to 1): max |diff| {control:.3g}")
    assert control > 100 * TOLERANCE, "BN running statistics do not affect the logits"


def write_reverse_case(d):
    torch.manual_seed(4)
    model = torchvision_resnet50_grey()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.8, 1.2)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(3)
    model.eval()
    x = torch.randn(2, 1, 80, 96)
    with torch.no_grad():
        logits = model(x)
    torch.save(model.state_dict(), f"{d}/python_weights.pt")  # an OrderedDict with _metadata
    # Views into larger storages (offset, strides) as torch.save writes them, for the C++ reader.
    base = torch.arange(24, dtype=torch.float64)
    torch.save({"input": x, "logits": logits, "view": base[3:7], "strided": base.view(4, 6)[1:, ::2].t()},
               f"{d}/python_io.pt")
    print(f"wrote {d}/python_weights.pt and python_io.pt")


if __name__ == "__main__":
    check_export(sys.argv[1])
    write_reverse_case(sys.argv[1])
