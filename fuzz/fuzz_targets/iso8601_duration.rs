//! The fuzz target of `../checks/iso8601_duration.rs`, which says what it asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/iso8601_duration.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
