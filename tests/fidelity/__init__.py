"""Cross-runtime fidelity: the same model gives the same answer in edgekit and in MediaPipe / TensorFlow."""
