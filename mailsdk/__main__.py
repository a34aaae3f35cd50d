"""``python -m mailsdk``: the same as the ``mailsdk`` command."""

from mailsdk.cli import main

if __name__ == "__main__":
    main()
