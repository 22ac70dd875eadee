"""Run the original EfficientNet-Lite0 network in PyTorch (the reference for the imagenet zoo model).

Runs in the torch venv made by ``runtime_env.sh torch-2.13`` (torch and efficientnet-lite-pytorch; never
the project's venv):

    python -I torch_efficientnet.py WEIGHTS.pth INPUTS.npy OUT.npy

INPUTS.npy: float32 (N, 224, 224, 3), already normalized as the network expects ((pixel - 127) / 128).
OUT.npy: float32 (N, 1000) softmax probabilities of the network as ML Illustrated's package defines it.
"""

import sys

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet


def main(weights: str, inputs_file: str, out_file: str) -> int:
    torch.set_num_threads(1)
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    model.eval()
    inputs = torch.from_numpy(np.load(inputs_file).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        logits = torch.cat([model(inputs[i : i + 8]) for i in range(0, len(inputs), 8)])
        probabilities = torch.softmax(logits.double(), dim=1).float().numpy()
    np.save(out_file, probabilities)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
