"""Text classification with Embedding(mask_zero=True) and Bidirectional(LSTM) on padded sequences.

The data are generated from a seed (no download): "reviews" of 3 to 40 words drawn from a small
vocabulary of positive, negative and neutral words, where "not" flips the sentiment of the word that
follows. A review is positive when its positive words (after negation) outnumber its negative ones.
Word order matters (negation), and lengths vary, so the reviews are post-padded with id 0 by
``pad_sequences`` and the padding is masked: the LSTMs skip it in both directions.

    Input(int32) -> Embedding(vocab, 16, mask_zero=True) -> Bidirectional(LSTM(16))
    -> Dense(1, sigmoid)

Run:
    python examples/text_bidirectional.py [--epochs 6] [--samples 6000]
"""

import argparse
import time

import numpy as np

import dendrite as dd
from dendrite import layers

POSITIVE = ["good", "great", "fine", "superb", "lovely", "fun"]
NEGATIVE = ["bad", "awful", "dull", "poor", "boring", "weak"]
NEUTRAL = ["the", "a", "movie", "plot", "actor", "was", "and", "it", "very", "story", "film", "so"]
VOCABULARY = ["<pad>", "not", *POSITIVE, *NEGATIVE, *NEUTRAL]
WORD_ID = {word: i for i, word in enumerate(VOCABULARY)}


def make_reviews(n, seed, max_length=40):
    """n tokenized reviews (lists of ids, no padding) and their 0/1 labels (no ties)."""
    rng = np.random.default_rng(seed)
    reviews, labels = [], []
    while len(reviews) < n:
        length = int(rng.integers(3, max_length + 1))
        words, score, negate = [], 0, False
        for _ in range(length):
            kind = rng.choice(["pos", "neg", "not", "neutral"], p=[0.15, 0.15, 0.1, 0.6])
            if kind == "not":
                words.append("not")
                negate = True
                continue
            if kind == "neutral":
                words.append(str(rng.choice(NEUTRAL)))
            else:
                words.append(str(rng.choice(POSITIVE if kind == "pos" else NEGATIVE)))
                score += (1 if kind == "pos" else -1) * (-1 if negate else 1)
            negate = False
        if score != 0:
            reviews.append([WORD_ID[w] for w in words])
            labels.append(int(score > 0))
    return reviews, np.array(labels, dtype="float32")


def build_model(max_length, units=16):
    tokens = dd.Input(shape=(max_length,), dtype="int32")
    embedded = layers.Embedding(len(VOCABULARY), 16, mask_zero=True)(tokens)
    encoded = layers.Bidirectional(layers.LSTM(units))(embedded)
    return dd.Model(tokens, layers.Dense(1, activation="sigmoid")(encoded), name="reviews")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--max-length", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_reviews, y_train = make_reviews(args.samples, seed=args.seed)
    test_reviews, y_test = make_reviews(1000, seed=args.seed + 1)
    x_train = dd.utils.pad_sequences(train_reviews, maxlen=args.max_length, padding="post")
    x_test = dd.utils.pad_sequences(test_reviews, maxlen=args.max_length, padding="post")
    print("example:", " ".join(VOCABULARY[i] for i in train_reviews[0]), "->", int(y_train[0]))

    dd.utils.set_random_seed(args.seed)
    model = build_model(args.max_length)
    model.summary()
    model.compile(dd.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=2,
              validation_data=(x_test, y_test))
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test accuracy: {accuracy:.4f}; training took {seconds:.0f} s")


if __name__ == "__main__":
    main()
