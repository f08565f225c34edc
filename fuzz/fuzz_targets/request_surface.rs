//! The fuzz target of `../checks/request_surface.rs`, which says what it asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/request_surface.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
