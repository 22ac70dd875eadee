"""Will MediaPipe Tasks load this file? The checks its tasks make when they open a model.

Each rule restates a check in MediaPipe's C++ source (google-ai-edge/mediapipe), read at the 1.2.2
era and confirmed by loading real files into MediaPipe 1.2.2 and 0.10.21 (tests/compat/test_compat.py):

- image tasks: ``tasks/cc/vision/utils/image_tensor_specs.cc`` (BuildInputImageTensorSpecs: one input,
  4-D, uint8 or float32, RGB colour space, depth 3 or 4, float32 needs NormalizationOptions with 1 or 3
  values) and ``tasks/cc/components/processors/image_preprocessing_graph.cc``
  (ConfigureImageToTensorCalculator: "Per-channel image normalization is not available");
- audio: ``tasks/cc/audio/utils/audio_tensor_specs.cc`` (AudioProperties metadata required; 1-D/2-D;
  float16 or float32) and ``tasks/cc/audio/audio_classifier/audio_classifier_graph.cc`` (one subgraph,
  one input);
- text: ``tasks/cc/text/utils/text_model_utils.cc`` (GetModelType: one int32 input is a regex model
  only with a RegexTokenizer process unit) and ``calculators/tensor/regex_preprocessor_calculator.cc``,
  ``tasks/cc/components/processors/text_preprocessing_graph.cc`` (2-D input);
- classifier outputs: ``tasks/cc/components/processors/classification_postprocessing_graph.cc``
  (one subgraph; outputs uint8, float32 or bool, all or none quantized; one output metadata per output);
- face detection: ``tasks/cc/vision/face_detector/face_detector_graph.cc`` (image input as above;
  BlazeFace outputs of 896 or 2304 anchors x 16 coordinates, decoded without metadata).
"""

from __future__ import annotations

from ..metadata import ModelCard, Task
from ._graph import CONTENT_AUDIO, UNIT_BERT, UNIT_REGEX, UNIT_SENTENCEPIECE, FileFacts


def _image_input(facts: FileFacts) -> tuple[list[str], list[str]]:
    """(reasons it fails, fixes) for MediaPipe's image preprocessing."""
    if len(facts.inputs) != 1:
        return [f"image models must have one input, this one has {len(facts.inputs)}"], ["re-export with one input"]
    tensor, meta = facts.inputs[0], facts.input_metadata
    if len(tensor.shape) != 4:
        return [f"image input must be 4-D (1 x H x W x 3), got {list(tensor.shape)}"], ["re-export with an NHWC input"]
    reasons, fixes = [], []
    if tensor.type_name not in ("UINT8", "FLOAT32"):
        reasons.append(f"image input is {tensor.type_name}; MediaPipe takes uint8 or float32")
        fixes.append("re-export with --io-dtype uint8 (the default) or float32")
    if meta is not None and meta.color_space and meta.color_space != "RGB":
        reasons.append(f"colour space {meta.color_space}; MediaPipe takes RGB only")
        fixes.append("re-export with an RGB input (--color-order RGB: the grayscale conversion goes into the graph)")
    elif tensor.shape[0] != 1 or tensor.shape[3] not in (3, 4):
        reasons.append(f"image input must be 1 x H x W x 3, got {list(tensor.shape)}")
        fixes.append("re-export with an RGB input (--color-order RGB)")
    if tensor.type_name == "FLOAT32":
        mean, std = (meta.mean, meta.std) if meta is not None else (None, None)
        if mean is None:
            reasons.append("float32 image input without NormalizationOptions in the metadata")
            fixes.append("export with edgekit convert (it writes the normalization), or give --mean/--std")
        elif len(mean) != len(std or ()) or len(mean) not in (1, 3):
            reasons.append(f"normalization needs 1 or 3 mean/std values, got {len(mean)} and {len(std or ())}")
            fixes.append("give one mean and one std (--mean M --std S)")
        elif len(set(mean)) > 1 or len(set(std or ())) > 1:
            reasons.append(f"per-channel normalization (mean {list(mean)}, std {list(std or ())}); MediaPipe takes one")
            fixes.append("re-export with one mean/std for all channels, or normalize inside the graph")
        elif std and abs(std[0]) < 1.2e-7:
            reasons.append("normalization std is 0")
            fixes.append("give a non-zero --std")
    return reasons, fixes


def _classifier_outputs(facts: FileFacts) -> tuple[list[str], list[str]]:
    reasons, fixes = [], []
    if facts.subgraph_count != 1:
        reasons.append(f"classifiers must have one subgraph, this file has {facts.subgraph_count}")
        fixes.append("re-export without extra signatures")
    types = [t.type_name for t in facts.outputs]
    if any(t not in ("FLOAT32", "UINT8", "BOOL") for t in types):
        reasons.append(f"classifier outputs must be uint8 or float32, got {', '.join(types)}")
        fixes.append("re-export with --io-dtype uint8 (the default) or float32")
    elif 0 < sum(t != "FLOAT32" for t in types) < len(types):
        reasons.append("outputs must be all quantized or all float")
        fixes.append("re-export with one --io-dtype")
    if facts.has_metadata and facts.output_metadata_count and facts.output_metadata_count != len(facts.outputs):
        reasons.append(f"{len(facts.outputs)} outputs but metadata for {facts.output_metadata_count}")
        fixes.append("re-export with edgekit convert")
    return reasons, fixes


def _audio(facts: FileFacts) -> tuple[list[str], list[str]]:
    meta = facts.input_metadata
    if facts.subgraph_count != 1 or len(facts.inputs) != 1:
        return ["audio classifiers must have one subgraph and one input"], ["re-export with one input"]
    if meta is None or meta.content != CONTENT_AUDIO:
        return ["no AudioProperties in the input metadata"], ["export with edgekit convert --task audio-classifier"]
    tensor, reasons, fixes = facts.inputs[0], [], []
    if len(tensor.shape) > 2:
        reasons.append(f"audio input must be 1-D or 2-D, got {list(tensor.shape)}")
        fixes.append("re-export with a [1, samples] input")
    if tensor.type_name not in ("FLOAT32", "FLOAT16"):
        reasons.append(f"audio input is {tensor.type_name}; MediaPipe's AudioClassifier takes float32 only")
        fixes.append("re-export with --io-dtype float32 (int8 inside, float samples in and scores out)")
    return reasons, fixes


def _text(facts: FileFacts) -> tuple[list[str], list[str]]:
    meta = facts.input_metadata
    units = meta.process_units if meta is not None else ()
    if len(facts.inputs) == 3 and all(t.type_name == "INT32" for t in facts.inputs):
        if UNIT_BERT in units or UNIT_SENTENCEPIECE in units:
            return [], []
        return ["a 3-input (BERT) model without a BertTokenizer or SentencePiece unit"], ["add tokenizer metadata"]
    if len(facts.inputs) != 1 or facts.inputs[0].type_name != "INT32":
        got = ", ".join(f"{t.type_name} {list(t.shape)}" for t in facts.inputs)
        return [f"text models take one int32 token input (got {got})"], ["re-export with one int32 token input"]
    if UNIT_REGEX not in units:
        return ["no RegexTokenizer in the input metadata"], ["export with edgekit convert --vocab FILE"]
    if not meta or not meta.regex_vocabulary:
        return ["the RegexTokenizer names no vocabulary file"], ["export with edgekit convert --vocab FILE"]
    if len(facts.inputs[0].shape) != 2:
        return [f"token input must be 2-D [1, length], got {list(facts.inputs[0].shape)}"], ["re-export [1, length]"]
    return [], []


def _face_outputs(facts: FileFacts) -> tuple[list[str], list[str]]:
    shapes = sorted(t.shape for t in facts.outputs)
    for boxes in (896, 2304):  # short- and long-range BlazeFace, decoded with built-in defaults
        if shapes == [(1, boxes, 1), (1, boxes, 16)]:
            return [], []
    return (
        ["not a BlazeFace-style detector (outputs [1, 896|2304, 16] and [1, 896|2304, 1]); MediaPipe's "
         "ObjectDetector needs TFLite_Detection_PostProcess outputs with their own metadata"],
        ["use edgekit's ObjectDetector for this file"],
    )  # fmt: skip


def mediapipe_task(card: ModelCard | None, facts: FileFacts) -> str | None:
    """The MediaPipe Tasks class that would open this file, or None."""
    task = card.task if card is not None else None
    if task is None and len(facts.inputs) == 1 and len(facts.inputs[0].shape) == 4:
        task = Task.IMAGE_CLASSIFIER  # what a file without metadata most likely is
    if task is None:
        return None
    return {
        Task.IMAGE_CLASSIFIER: "ImageClassifier",
        Task.OBJECT_DETECTOR: "FaceDetector",
        Task.AUDIO_CLASSIFIER: "AudioClassifier",
        Task.TEXT_CLASSIFIER: "TextClassifier",
    }.get(task)


def mediapipe_verdict(card: ModelCard | None, facts: FileFacts) -> tuple[str | None, list[str], list[str]]:
    """(task class, reasons MediaPipe refuses the file, fixes); no reasons means it loads."""
    task = mediapipe_task(card, facts)
    if task is None:
        return None, ["MediaPipe Tasks has no task for this model kind"], ["run it with edgekit or a plain interpreter"]
    if task == "ImageClassifier":
        parts = [_image_input(facts), _classifier_outputs(facts)]
    elif task == "FaceDetector":
        parts = [_image_input(facts), _face_outputs(facts)]
    elif task == "AudioClassifier":
        parts = [_audio(facts), _classifier_outputs(facts)]
    else:
        parts = [_text(facts), _classifier_outputs(facts)]
    reasons = [r for part in parts for r in part[0]]
    fixes = [f for part in parts for f in part[1]]
    return task, reasons, fixes
