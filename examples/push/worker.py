"""A second service on the same base: pushing it uploads only its own layers."""


def main():
    print("worker ready")


if __name__ == "__main__":
    main()
