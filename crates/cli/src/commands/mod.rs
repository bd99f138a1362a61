//! One module per subcommand; each owns its arguments and calls one library crate.

pub mod layer;
pub mod deb;
pub mod base;
pub mod image;
pub mod index;
pub mod tarball;
pub mod load;
pub mod inspect;
pub mod lint;
pub mod push;
pub mod pull;
pub mod copy;
pub mod gc;
pub mod check;
pub mod check_layer;
pub mod sbom;
pub mod test;
