#![no_main]
// The property lives in crates/council-fuzz (council_fuzz::gossip), shared with the test suite.
libfuzzer_sys::fuzz_target!(|data: &[u8]| council_fuzz::gossip(data));
