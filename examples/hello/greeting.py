"""Reading the greeting from the data file."""


def first_line(path):
    with open(path, encoding="utf-8") as handle:
        return handle.readline().rstrip("\n")
