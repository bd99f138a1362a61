//! `pyoci`: the binary Bazel actions call, and a user CLI.
//!
//! Each subcommand lives in its own module under `commands/` and only parses
//! arguments, calls into a library crate and prints; the work is in the crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod interrupt;
mod output;

#[derive(Parser)]
#[command(
    name = "pyoci",
    version,
    about = "Deterministic OCI images for Python services, built from Bazel",
    long_about = "Deterministic OCI images for Python services.\n\n\
        pyoci writes reproducible tar layers, assembles OCI image layouts and docker-load \
        tarballs, builds distroless Python bases from pinned Debian packages, talks to OCI \
        registries, checks images against security policy and lints BUILD files offline. \
        The rules_pyoci Bazel rules call it from their actions; every subcommand also works \
        by hand.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(about = "Write one deterministic, compressed layer blob and print its descriptor as JSON.")]
    Layer(commands::layer::Args),
    #[command(about = "Turn a Debian package (.deb) into a layer that scanners recognise.")]
    Deb(commands::deb::Args),
    #[command(about = "Build a distroless Python 3.11 base image layout from a directory of .deb files.")]
    Base(commands::base::Args),
    #[command(about = "Assemble an OCI image layout from a base layout, layers and config.")]
    Image(commands::image::Args),
    #[command(about = "Combine several platform images into one multi-platform image index.")]
    Index(commands::index::Args),
    #[command(about = "Write a tarball that `docker load` and `podman load` accept.")]
    Tarball(commands::tarball::Args),
    #[command(about = "Load an image into Docker or podman, sending only the layers the engine lacks.")]
    Load(commands::load::Args),
    #[command(about = "Print an image's layers with sizes, its config and its total size.")]
    Inspect(commands::inspect::Args),
    #[command(about = "Lint BUILD, .bzl, WORKSPACE and MODULE.bazel files without running Bazel.")]
    Lint(commands::lint::Args),
    #[command(about = "Push an image layout to a registry by digest, then tag it.")]
    Push(commands::push::Args),
    #[command(about = "Pull an image from a registry by digest into an OCI layout.")]
    Pull(commands::pull::Args),
    #[command(about = "Copy an image between repositories or registries without rebuilding it.")]
    Copy(commands::copy::Args),
    #[command(about = "List (and with --delete, remove) untagged and old manifests in a repository.")]
    Gc(commands::gc::Args),
    #[command(about = "Check an image against the security gates (non-root, no shell, no secrets, permissions, size).")]
    Check(commands::check::Args),
    #[command(name = "check-layer", about = "Record what the security gates need from layer bytes, once per layer, for `pyoci check --layer-findings`.")]
    CheckLayer(commands::check_layer::Args),
    #[command(about = "Write an SPDX 2.3 SBOM of an image's Debian packages and Python distributions.")]
    Sbom(commands::sbom::Args),
    #[command(about = "Run structure tests (command, file and metadata checks) against an image.")]
    Test(commands::test::Args),
    #[command(about = "Write an image whose blobs are spread over several layouts as one complete layout.")]
    Layout(commands::layout::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Layer(args) => commands::layer::run(args),
        Command::Deb(args) => commands::deb::run(args),
        Command::Base(args) => commands::base::run(args),
        Command::Image(args) => commands::image::run(args),
        Command::Index(args) => commands::index::run(args),
        Command::Tarball(args) => commands::tarball::run(args),
        Command::Load(args) => commands::load::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Lint(args) => commands::lint::run(args),
        Command::Push(args) => commands::push::run(args),
        Command::Pull(args) => commands::pull::run(args),
        Command::Copy(args) => commands::copy::run(args),
        Command::Gc(args) => commands::gc::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::CheckLayer(args) => commands::check_layer::run(args),
        Command::Sbom(args) => commands::sbom::run(args),
        Command::Test(args) => commands::test::run(args),
        Command::Layout(args) => commands::layout::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            output::print_error(&err);
            ExitCode::FAILURE
        }
    }
}
