//! The fuzz target of `../checks/token_list.rs`, which says what it asserts.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/token_list.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::check(data));
