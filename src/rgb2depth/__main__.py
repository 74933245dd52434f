"""``python -m rgb2depth`` is the same as the ``rgb2depth`` console script."""

from rgb2depth.cli import main

if __name__ == "__main__":
    main()
