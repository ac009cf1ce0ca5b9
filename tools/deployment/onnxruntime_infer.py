"""Segment images with an exported ResNet-38 model (tools/deployment/
pytorch2onnx.py) using ONNX Runtime alone: numpy, Pillow and onnxruntime,
no torch, no mmseg.

    python tools/deployment/onnxruntime_infer.py model.onnx image.png \\
        --out labels.png

Writes the label map (one class index per pixel, 8-bit PNG). The labels
are those of ``tools/infer.py`` for the same checkpoint where the config's
test pipeline does not resize (``configs/rn38_demo.py``); for configs that
rescale the image first (VOC's 2048x512), resize it the same way before.
"""
import argparse

import numpy as np
import onnxruntime
from PIL import Image


def segment(session: onnxruntime.InferenceSession, path: str) -> np.ndarray:
    """The ``(H, W)`` uint8 label map of the image file ``path``."""
    rgb = np.asarray(Image.open(path).convert('RGB'), dtype=np.float32)
    image = rgb.transpose(2, 0, 1)[None]  # (1, 3, H, W), RGB 0..255
    logits = session.run(['logits'], {'image': image})[0]
    return logits[0].argmax(0).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('model', help='the .onnx file')
    parser.add_argument('image', help='an image file')
    parser.add_argument('--out', required=True, help='label map PNG')
    args = parser.parse_args()
    session = onnxruntime.InferenceSession(
        args.model, providers=['CPUExecutionProvider'])
    Image.fromarray(segment(session, args.image)).save(args.out)


if __name__ == '__main__':
    main()
