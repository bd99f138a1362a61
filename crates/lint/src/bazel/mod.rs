//! Bazel's Starlark environment, faked: enough to evaluate real BUILD and .bzl files and record
//! what they declare.

pub(crate) mod globals;
pub(crate) mod schema;
pub(crate) mod values;
pub(crate) mod skylib;
