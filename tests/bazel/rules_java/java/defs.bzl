"""Offline stand-in for rules_java on Bazel 4.2: the native rules, under rules_java's load path."""

java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_runtime = native.java_runtime
java_test = native.java_test
java_toolchain = native.java_toolchain
