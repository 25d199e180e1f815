#![no_main]
// The property lives in crates/council-fuzz (council_fuzz::config), shared with the test suite.
libfuzzer_sys::fuzz_target!(|data: &[u8]| council_fuzz::config(data));
