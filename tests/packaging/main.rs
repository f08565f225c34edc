//! The packaging tests, apart from the others (`tests/it/`): the container image, the Debian
//! package, the systemd unit and the Kubernetes manifests, each checked by the tools that use them
//! (buildah, cargo-deb and dpkg, systemd-analyze, kubectl and the Kubernetes schemas).
//! `cargo test --test packaging <module>::` runs one module.

#[path = "../common/mod.rs"]
mod common;

mod container;
mod debian_package;
mod kubernetes;
mod systemd;
