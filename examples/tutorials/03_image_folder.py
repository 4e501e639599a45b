"""The L-layer cat classifier [12288, 20, 7, 5, 1] trained from folders of PNG files.

The images are read with ``dendrite.datasets.load_image_folder``, which labels each file by its
name (``cat.0003.png`` -> 1, ``noncat.0001.png`` -> 0), then flattened to the column layout
(12288, m) and divided by 255, and the model trains as in the course (randn / sqrt(n[l-1]) from
seed 1, learning rate 0.0075, 2500 iterations).

Folders: ``--train DIR`` and ``--test DIR``. Without ``--train`` the script first writes the
bundled cat/non-cat arrays as PNG files (lossless) into a temporary folder, named the way
``load_image_folder`` expects, and trains on those: the same 209 + 50 images as the course. The
repository's ``tests/data/catvnoncat_images`` holds 16 of the test images; try
``--test tests/data/catvnoncat_images``. ``--image FILE`` classifies one more picture of your own
(resized to 64x64), the course's last step.

Run:
    python examples/tutorials/03_image_folder.py [--train DIR] [--test DIR] [--image FILE]
"""

import argparse
import tempfile
from pathlib import Path

from dendrite.backend import host as np
from dendrite.datasets import catvnoncat, flatten_images, load_image_folder
from dendrite.tutorial import L_layer_model, predict


def write_png_folders(root):
    """The bundled data set as root/train/*.png and root/test/*.png; returns the two folders."""
    from PIL import Image

    (x_train, y_train), (x_test, y_test), _ = catvnoncat.load_data()
    folders = []
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        folder = Path(root) / split
        folder.mkdir(parents=True)
        for index, (image, label) in enumerate(zip(images, labels)):
            prefix = "cat" if label == 1 else "noncat"
            Image.fromarray(image).save(folder / f"{prefix}.{index:04d}.png")
        folders.append(folder)
    return folders


def load(folder):
    x, y = load_image_folder(folder)  # (m, 64, 64, 3) uint8, labels from the file names
    return flatten_images(x) / 255.0, y.reshape(1, -1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", help="folder of training images (default: the bundled set)")
    parser.add_argument("--test", help="folder of test images")
    parser.add_argument("--image", help="one more image to classify")
    parser.add_argument("--iterations", type=int, default=2500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        train_folder, test_folder = args.train, args.test
        if train_folder is None:
            train_folder, default_test = write_png_folders(temporary)
            test_folder = test_folder or default_test
            print(f"wrote the bundled images as PNG files under {temporary}")
        train_x, train_y = load(train_folder)
        test = load(test_folder) if test_folder else None

    print(
        f"Number of training examples: {train_x.shape[1]} ({int(train_y.sum())} cats) "
        f"from {train_folder}"
    )
    if test is not None:
        print(
            f"Number of testing examples: {test[0].shape[1]} ({int(test[1].sum())} cats) "
            f"from {test_folder}"
        )
    print(f"train_x's shape: {train_x.shape}")

    parameters, _ = L_layer_model(
        train_x,
        train_y,
        [12288, 20, 7, 5, 1],
        learning_rate=0.0075,
        num_iterations=args.iterations,
        print_cost=True,
        init="sqrt",
        seed=1,
    )
    print("train:", end=" ")
    predict(train_x, train_y, parameters)
    if test is not None:
        print("test: ", end=" ")
        predict(*test, parameters)
    print("course (the same 209 + 50 images from its h5 files): train 0.986, test 0.80")

    if args.image:
        from PIL import Image

        with Image.open(args.image) as opened:
            image = np.asarray(opened.convert("RGB").resize((64, 64)), dtype=np.float64)
        x = image.reshape(-1, 1) / 255.0
        p = int(predict(x, None, parameters)[0, 0])
        print(f'your L-layer model predicts a "{"cat" if p else "non-cat"}" picture.')


if __name__ == "__main__":
    main()
